"""A tiny Kafka-aware TCP proxy (threads) for fault injection.

- drop_all(): close every open client<->broker connection right now.
- swallow_produce_responses(n): the next n Produce responses from the broker are
  dropped (never reach the client) and the connection carrying each is then
  closed, so the producer must retry a request the broker already committed.

It parses only frame boundaries and the request header (api key, correlation id)
to recognise Produce responses.
"""

from __future__ import annotations

import socket
import struct
import threading


class _Conn:
    def __init__(self, proxy, client: socket.socket):
        self.proxy = proxy
        self.client = client
        self.server = socket.create_connection(proxy.target)
        self.inflight = {}  # correlation id -> api key
        self.lock = threading.Lock()
        self.closed = False

    def start(self):
        threading.Thread(target=self._c2s, daemon=True).start()
        threading.Thread(target=self._s2c, daemon=True).start()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.proxy._forget(self)

    @staticmethod
    def _read_frame(sock):
        hdr = b""
        while len(hdr) < 4:
            chunk = sock.recv(4 - len(hdr))
            if not chunk:
                return None
            hdr += chunk
        n = struct.unpack(">i", hdr)[0]
        body = bytearray()
        while len(body) < n:
            chunk = sock.recv(min(1 << 20, n - len(body)))
            if not chunk:
                return None
            body += chunk
        return hdr + bytes(body)

    def _c2s(self):
        try:
            while True:
                f = self._read_frame(self.client)
                if f is None:
                    break
                if len(f) >= 12:
                    api_key, _ver, cid = struct.unpack(">hhi", f[4:12])
                    with self.lock:
                        self.inflight[cid] = api_key
                self.server.sendall(f)
        except OSError:
            pass
        self.close()

    def _s2c(self):
        try:
            while True:
                f = self._read_frame(self.server)
                if f is None:
                    break
                cid = struct.unpack(">i", f[4:8])[0] if len(f) >= 8 else None
                with self.lock:
                    api_key = self.inflight.pop(cid, None)
                if api_key == 0 and self.proxy._take_swallow():
                    self.proxy.swallowed += 1
                    break  # response lost; close the connection
                self.client.sendall(f)
        except OSError:
            pass
        self.close()


class FaultProxy:
    def __init__(self, target_port: int, listen_port: int = 0, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, listen_port))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.conns: set[_Conn] = set()
        self.lock = threading.Lock()
        self._swallow = 0
        self.swallowed = 0
        self.dropped = 0  # connections closed by drop_all
        self.accepted = 0
        self._stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _accept(self):
        while not self._stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                conn = _Conn(self, c)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns.add(conn)
                self.accepted += 1
            conn.start()

    def _forget(self, conn):
        with self.lock:
            self.conns.discard(conn)

    def _take_swallow(self) -> bool:
        with self.lock:
            if self._swallow > 0:
                self._swallow -= 1
                return True
            return False

    def swallow_produce_responses(self, n: int):
        with self.lock:
            self._swallow += n

    def pending_swallows(self) -> int:
        with self.lock:
            return self._swallow

    def drop_all(self) -> int:
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            c.close()
        self.dropped += len(conns)
        return len(conns)

    def stop(self):
        self._stopped = True
        try:
            self.lsock.close()
        except OSError:
            pass
        self.drop_all()

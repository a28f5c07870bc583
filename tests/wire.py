"""Any Kafka request at any version over a raw connection, from Kafka's own JSON message definitions
(as packaged in kafka-python 3's `kafka.protocol` schemas), for tests that need exact error codes and
fields a client library hides.

    from wire import call
    with kafkawire.KafkaConn(host, port) as c:
        r = call(c, "DescribeConfigs", 4, resources=[{"resource_type": 2, "resource_name": "t",
                                                     "configuration_keys": None}], include_synonyms=True)
    r["results"][0]["error_code"]

Requests are given as nested dicts/lists with the schema's field names in snake_case; the response comes
back as nested dicts (`to_dict()` of the decoded message). APIs that kafka-python lacks (share groups,
KIP-848 and streams group heartbeats) stay in tests/kafkawire.py.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
from functools import lru_cache

import kafka.protocol as _kp

_correlation = itertools.count(1)


@lru_cache(maxsize=None)
def message_class(name: str):
    """The kafka-python message class named `name` (e.g. "DescribeConfigsRequest")."""
    for mod in pkgutil.walk_packages(_kp.__path__, _kp.__name__ + "."):
        if ".schemas" in mod.name or mod.name.endswith(("generate_stubs", "old")):
            continue
        try:
            m = importlib.import_module(mod.name)
        except Exception:
            continue
        cls = getattr(m, name, None)
        if cls is not None and hasattr(cls, "_struct"):
            return cls
    raise KeyError(f"no kafka-python message class {name}")


def _fields(struct, values: dict, version: int, owner: str) -> dict:
    """Keyword arguments for `struct`'s data class: nested dicts become nested data classes."""
    kwargs = {}
    for name, val in values.items():
        f = struct.fields.get(name)
        if f is None:
            raise KeyError(f"{owner} has no field {name!r} (fields: {list(struct.fields)})")
        if val is not None and f.is_struct_array():
            val = [f.data_class(version=version, **_fields(f, v, version, f.name)) if isinstance(v, dict) else v
                   for v in val]
        elif val is not None and f.is_struct() and isinstance(val, dict):
            val = f.data_class(version=version, **_fields(f, val, version, f.name))
        kwargs[name] = val
    return kwargs


def encode_request(api: str, version: int, client_id: str = "sluice-wire-test", **fields) -> tuple[bytes, int]:
    """The framed request bytes (size, header, body) and its correlation id."""
    cls = message_class(f"{api}Request")
    req = cls[version](**_fields(cls._struct, fields, version, f"{api}Request"))
    cid = next(_correlation)
    req.with_header(correlation_id=cid, client_id=client_id)
    return bytes(req.encode(header=True, framed=True)), cid


def decode_response(api: str, version: int, frame: bytes) -> dict:
    """A response frame (without its size prefix) as nested dicts."""
    cls = message_class(f"{api}Response")
    return cls.decode(frame, version=version, header=True).to_dict()


def call(conn, api: str, version: int, **fields) -> dict:
    """Sends one request on `conn` (a kafkawire.KafkaConn) and returns the decoded response."""
    data, _ = encode_request(api, version, **fields)
    conn.send_raw(data)
    return decode_response(api, version, conn.recv_frame())

//! Size-prefixed Kafka frames.
//!
//! Every request is `i32 size` followed by `size` bytes. The size is untrusted: frames above
//! `max_bytes` (Kafka's `socket.request.max.bytes`) are refused before any allocation.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Kafka's default `socket.request.max.bytes`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// Why a frame could not be read; every one closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The size prefix is above the limit (nothing of the body was read).
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The size prefix, bytes.
        size: i64,
        /// The limit in force, bytes.
        max: usize,
    },
    /// The size prefix is negative.
    #[error("negative frame size {0}")]
    Negative(i32),
    /// The socket failed, or the stream ended inside a frame's body.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame (the body, without its size prefix), at most `max_bytes` long. `Ok(None)` on
/// a clean end of stream between frames; an end inside the 4-byte prefix or the body is
/// [`FrameError::Io`] (`UnexpectedEof`). Errors: [`FrameError`].
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
) -> Result<Option<Bytes>, FrameError> {
    read_frame_limited(reader, || max_bytes).await
}

/// [`read_frame`] with the limit asked for once the size is known, so a connection can change
/// it while the reader waits (a smaller limit before SASL authentication).
pub async fn read_frame_limited<R: AsyncRead + Unpin>(
    reader: &mut R,
    limit: impl Fn() -> usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match reader.read(&mut len[got..]).await? {
            0 if got == 0 => return Ok(None),
            0 => {
                return Err(FrameError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("stream ended after {got} of the 4 bytes of a frame's size"),
                )))
            }
            n => got += n,
        }
    }
    let size = i32::from_be_bytes(len);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    let max_bytes = limit();
    if size as usize > max_bytes {
        return Err(FrameError::TooLarge {
            size: size as i64,
            max: max_bytes,
        });
    }
    let mut buf = BytesMut::zeroed(size as usize);
    reader.read_exact(&mut buf).await?;
    Ok(Some(buf.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_frames_and_refuses_oversize() {
        let mut input: &[u8] = &[0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 10];
        let f = read_frame(&mut input, 5).await.unwrap().unwrap();
        assert_eq!(&f[..], b"abc");
        let err = read_frame(&mut input, 5).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { size: 10, max: 5 }));
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error_and_eof_is_clean() {
        let mut input: &[u8] = &[0, 0, 0, 9, 1, 2];
        assert!(matches!(
            read_frame(&mut input, 100).await,
            Err(FrameError::Io(_))
        ));
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty, 100).await.unwrap().is_none());
        let mut partial_size: &[u8] = &[0, 0];
        assert!(matches!(
            read_frame(&mut partial_size, 100).await,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof
        ));
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut neg, 100).await,
            Err(FrameError::Negative(-1))
        ));
    }
}

//! Record-batch compression codecs, framed as Kafka frames them, with bounded decompression.
//!
//! A magic-v2 batch compresses everything after its 61-byte header (the records) as one stream.
//! Sluice stores producers' batches as they came unless a topic's `compression.type` names
//! another codec; then the agent decompresses the records and compresses them again
//! ([`decompress`], [`compress`]), as Kafka's `LogValidator` does. The algorithms come from
//! well-kept crates (`flate2`, `snap`, `lz4`, `zstd`, all already built for `kafka-protocol`);
//! only the framing Kafka adds is here:
//! - gzip: RFC 1952 members (several may follow each other, as Java's `GZIPInputStream` reads);
//! - snappy: xerial's `SnappyOutputStream` framing (a 16-byte header, then blocks each prefixed by
//!   their big-endian length), or, without the header, one raw snappy block, as xerial reads it;
//! - lz4: the LZ4 frame format with independent blocks of at most 64 KiB and no checksums, which
//!   is what Kafka's `Lz4BlockOutputStream` writes and every Kafka client reads;
//! - zstd: standard zstd frames.
//!
//! Decompression is bounded (`limit` bytes of output): a small compressed batch must not be able
//! to make the agent allocate gigabytes.

use std::io::{self, Read, Write};

/// The codec ids of a batch's `attributes` (bits 0-2), Kafka's `CompressionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// 0: records stored uncompressed (`compression.type=uncompressed`).
    None = 0,
    /// 1: gzip (RFC 1952; concatenated members are read too).
    Gzip = 1,
    /// 2: snappy, xerial-framed as Kafka's Java client writes it (raw blocks are read too).
    Snappy = 2,
    /// 3: LZ4 frame format.
    Lz4 = 3,
    /// 4: zstd frame format.
    Zstd = 4,
}

/// Why a payload could not be compressed or decompressed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Attribute bits 0-2 hold an id Kafka does not define (5-7).
    #[error("unknown compression codec id {0}")]
    UnknownCodec(i16),
    /// The compressed stream is malformed.
    #[error("invalid {codec:?} data: {source}")]
    Corrupt {
        /// The codec whose stream failed.
        codec: Codec,
        /// The decoder's (or encoder's) error.
        #[source]
        source: io::Error,
    },
    /// The stream decompresses to more than the caller's limit.
    #[error("{codec:?} data decompresses to more than {limit} bytes")]
    TooLarge {
        /// The codec of the stream.
        codec: Codec,
        /// The limit, bytes of decompressed output.
        limit: usize,
    },
}

impl Codec {
    /// The codec of a batch's `attributes` (bits 0-2; the other bits are ignored). Errors:
    /// [`CodecError::UnknownCodec`] for ids 5-7.
    pub fn from_attributes(attributes: i16) -> Result<Self, CodecError> {
        Ok(match attributes & 0x07 {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => return Err(CodecError::UnknownCodec(other)),
        })
    }

    /// The attribute bits of this codec.
    pub fn id(self) -> i16 {
        self as i16
    }

    /// The codec a topic's `compression.type` names (`uncompressed` is [`Codec::None`]);
    /// `None` for `producer` (keep the producer's codec) and for unknown names.
    pub fn from_topic_config(name: &str) -> Option<Self> {
        Some(match name {
            "uncompressed" => Codec::None,
            "gzip" => Codec::Gzip,
            "snappy" => Codec::Snappy,
            "lz4" => Codec::Lz4,
            "zstd" => Codec::Zstd,
            _ => return None,
        })
    }

    /// KIP-390: the topic config holding this codec's level, its legal range and Kafka's
    /// default; `None` for codecs without levels.
    pub fn level_config(self) -> Option<LevelConfig> {
        match self {
            Codec::Gzip => Some(LevelConfig {
                name: "compression.gzip.level",
                min: 1,
                max: 9,
                default: GZIP_DEFAULT_LEVEL,
            }),
            Codec::Lz4 => Some(LevelConfig {
                name: "compression.lz4.level",
                min: 1,
                max: 17,
                default: 9,
            }),
            Codec::Zstd => Some(LevelConfig {
                name: "compression.zstd.level",
                min: -131072,
                max: 22,
                default: 3,
            }),
            Codec::None | Codec::Snappy => None,
        }
    }
}

/// gzip's "default level" (`Deflater.DEFAULT_COMPRESSION`), which zlib reads as level 6.
pub const GZIP_DEFAULT_LEVEL: i32 = -1;

/// A KIP-390 compression level config: `compression.<codec>.level`, its range and default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelConfig {
    /// The topic config's name, e.g. `compression.zstd.level`.
    pub name: &'static str,
    /// The lowest legal level (inclusive).
    pub min: i32,
    /// The highest legal level (inclusive).
    pub max: i32,
    /// Kafka's default level (gzip: [`GZIP_DEFAULT_LEVEL`], outside `min..=max`).
    pub default: i32,
}

impl LevelConfig {
    /// Kafka accepts the range, and gzip also its default, -1.
    pub fn accepts(&self, level: i32) -> bool {
        (self.min..=self.max).contains(&level) || level == self.default
    }
}

fn corrupt(codec: Codec) -> impl Fn(io::Error) -> CodecError {
    move |source| CodecError::Corrupt { codec, source }
}

/// Reads all of `r`, failing with [`CodecError::TooLarge`] past `limit` bytes.
fn read_bounded(codec: Codec, r: impl Read, limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(corrupt(codec))?;
    if out.len() > limit {
        return Err(CodecError::TooLarge { codec, limit });
    }
    Ok(out)
}

/// xerial's stream header: magic, then version 1 and minimum compatible version 1.
const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
const XERIAL_MAGIC_LEN: usize = 8;
/// xerial's default block size.
const XERIAL_BLOCK: usize = 32 * 1024;

fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
    let codec = Codec::Snappy;
    let to_io = |e: snap::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let n = snap::raw::decompress_len(block).map_err(|e| corrupt(codec)(to_io(e)))?;
    if out.len() + n > limit {
        return Err(CodecError::TooLarge { codec, limit });
    }
    let at = out.len();
    out.resize(at + n, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[at..])
        .map_err(|e| corrupt(codec)(to_io(e)))?;
    Ok(())
}

fn snappy_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    if input.len() < XERIAL_HEADER.len()
        || input[..XERIAL_MAGIC_LEN] != XERIAL_HEADER[..XERIAL_MAGIC_LEN]
    {
        snappy_block(input, &mut out, limit)?;
        return Ok(out);
    }
    let mut rest = &input[XERIAL_HEADER.len()..];
    while !rest.is_empty() {
        let truncated = || {
            corrupt(Codec::Snappy)(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "truncated xerial snappy block",
            ))
        };
        let len_bytes: [u8; 4] = rest.get(..4).ok_or_else(truncated)?.try_into().expect("4");
        let len = u32::from_be_bytes(len_bytes) as usize;
        let block = rest.get(4..4 + len).ok_or_else(truncated)?;
        snappy_block(block, &mut out, limit)?;
        rest = &rest[4 + len..];
    }
    Ok(out)
}

fn snappy_compress(input: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(input.len() / 2 + XERIAL_HEADER.len());
    out.extend_from_slice(XERIAL_HEADER);
    let mut enc = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK) {
        let block = enc
            .compress_vec(chunk)
            .map_err(|e| corrupt(Codec::Snappy)(io::Error::other(e)))?;
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    Ok(out)
}

/// Decompresses a batch's records section. Output beyond `limit` bytes is an error. Errors:
/// [`CodecError::Corrupt`] for a malformed stream, [`CodecError::TooLarge`] past `limit`.
pub fn decompress(codec: Codec, input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    match codec {
        Codec::None => read_bounded(codec, input, limit),
        Codec::Gzip => read_bounded(codec, flate2::read::MultiGzDecoder::new(input), limit),
        Codec::Snappy => snappy_decompress(input, limit),
        Codec::Lz4 => {
            let d = lz4::Decoder::new(input).map_err(corrupt(codec))?;
            read_bounded(codec, d, limit)
        }
        Codec::Zstd => {
            let d = zstd::stream::read::Decoder::with_buffer(input).map_err(corrupt(codec))?;
            read_bounded(codec, d, limit)
        }
    }
}

/// Compresses a batch's records section with `codec` at `level` (see
/// [`Codec::level_config`]; `None`, or a codec without levels, uses Kafka's default; out of
/// range gzip levels are clamped to 0..=9). Snappy output is xerial-framed in 32 KiB blocks,
/// LZ4 output a frame of independent 64 KiB blocks without checksums. Errors:
/// [`CodecError::Corrupt`] when the encoder fails.
pub fn compress(codec: Codec, level: Option<i32>, input: &[u8]) -> Result<Vec<u8>, CodecError> {
    let level = level
        .or_else(|| codec.level_config().map(|l| l.default))
        .unwrap_or(0);
    let err = corrupt(codec);
    match codec {
        Codec::None => Ok(input.to_vec()),
        Codec::Gzip => {
            let lvl = if level == GZIP_DEFAULT_LEVEL {
                flate2::Compression::default()
            } else {
                flate2::Compression::new(level.clamp(0, 9) as u32)
            };
            let mut e = flate2::write::GzEncoder::new(Vec::new(), lvl);
            e.write_all(input).map_err(&err)?;
            e.finish().map_err(err)
        }
        Codec::Snappy => snappy_compress(input),
        Codec::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .level(level.max(0) as u32)
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(Vec::new())
                .map_err(&err)?;
            e.write_all(input).map_err(&err)?;
            let (out, res) = e.finish();
            res.map_err(err)?;
            Ok(out)
        }
        Codec::Zstd => zstd::stream::encode_all(input, level).map_err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_roundtrips_at_every_kind_of_level() {
        let data = sample();
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let mut levels = vec![None];
            if let Some(l) = codec.level_config() {
                levels.extend([Some(l.min.max(-5)), Some(l.max), Some(l.default)]);
            }
            for level in levels {
                let c = compress(codec, level, &data).unwrap();
                let d = decompress(codec, &c, data.len()).unwrap();
                assert_eq!(d, data, "{codec:?} at {level:?}");
            }
        }
    }

    #[test]
    fn interoperates_with_kafka_protocol_framing() {
        // kafka-protocol's decoders read what Kafka's clients write; ours must read theirs.
        use kafka_protocol::compression::{Compressor, Gzip, Lz4, Snappy, Zstd};
        let data = sample();
        fn theirs<C: Compressor<bytes::BytesMut>>(data: &[u8]) -> Vec<u8> {
            let mut out = bytes::BytesMut::new();
            C::compress(&mut out, |b| {
                bytes::BufMut::put_slice(b, data);
                Ok(())
            })
            .unwrap();
            out.to_vec()
        }
        for (codec, c) in [
            (Codec::Gzip, theirs::<Gzip>(&data)),
            (Codec::Snappy, theirs::<Snappy>(&data)),
            (Codec::Lz4, theirs::<Lz4>(&data)),
            (Codec::Zstd, theirs::<Zstd>(&data)),
        ] {
            assert_eq!(
                decompress(codec, &c, data.len()).unwrap(),
                data,
                "{codec:?}"
            );
        }
        // A raw (unframed) snappy block, as librdkafka may send.
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Codec::Snappy, &raw, data.len()).unwrap(), data);
    }

    #[test]
    fn decompression_is_bounded_and_garbage_is_an_error() {
        let zeros = vec![0u8; 1 << 20];
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let c = compress(codec, None, &zeros).unwrap();
            assert!(
                matches!(
                    decompress(codec, &c, 1000),
                    Err(CodecError::TooLarge { limit: 1000, .. })
                ),
                "{codec:?}"
            );
            assert!(decompress(codec, b"not compressed at all", 1 << 20).is_err());
            // A truncated stream never panics nor yields the whole input: some codecs' readers
            // stop cleanly at the cut (the record parser then refuses the batch), others error.
            assert!(
                decompress(codec, &c[..c.len() / 2], 1 << 20)
                    .map_or(true, |d| d.len() < zeros.len()),
                "{codec:?}"
            );
        }
        assert!(Codec::from_attributes(5).is_err());
        assert_eq!(Codec::from_attributes(0x13).unwrap(), Codec::Lz4);
    }
}

//! The flexible-version wire primitives the Streams messages are made of, and the
//! `wire_struct!` macro that turns a field list (as in Kafka's message JSON) into a struct with
//! a bounded decoder and an encoder.
//!
//! Every message of KIP-1071 is flexible in all its versions, so only the compact encodings
//! exist here: unsigned-varint lengths (`n + 1`, `0` for null), nullable structs as a one-byte
//! marker (`-1` null, `1` present), and a tagged-field section closing every struct.
//!
//! Decoding never trusts a length: a string or array longer than the bytes left in the frame is
//! an error before anything is allocated (each array element takes at least one byte), and an
//! array reserves at most 64 KiB before its elements are decoded, so a hostile frame costs memory
//! in proportion to its own size.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::{GroupId, TopicName};
use kafka_protocol::protocol::buf::{ByteBuf, ByteBufMut};
use kafka_protocol::protocol::StrBytes;

/// Most memory an array reserves before its elements are decoded.
const PREALLOC_BYTES: usize = 64 * 1024;

/// Longest string Kafka's generated code reads or writes (`Short.MAX_VALUE` bytes).
const MAX_STRING_LEN: usize = 0x7fff;

/// Why a Streams message could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame ended in the middle of a field.
    #[error("frame truncated: {needed} more bytes needed, {left} left")]
    Truncated {
        /// Bytes the next field needs.
        needed: usize,
        /// Bytes left in the frame.
        left: usize,
    },
    /// An unsigned varint longer than 5 bytes.
    #[error("unsigned varint longer than 5 bytes")]
    VarintOverflow,
    /// A length that cannot fit in what is left of the frame (or over Kafka's string limit).
    #[error("{what} length {len} exceeds what the frame holds ({left} bytes left)")]
    BadLength {
        /// The kind of field ("string", "array", "tagged field").
        what: &'static str,
        /// The declared length.
        len: u64,
        /// Bytes left in the frame.
        left: usize,
    },
    /// A non-nullable string or array was null on the wire.
    #[error("non-nullable {0} is null")]
    UnexpectedNull(&'static str),
    /// A string field that is not UTF-8.
    #[error("string field is not valid UTF-8")]
    InvalidUtf8,
    /// A tagged field's tag over `i32::MAX`.
    #[error("tagged field tag {0} out of range")]
    BadTag(u32),
    /// The message does not exist at this version.
    #[error("version {version} is not valid for {message} ({min}-{max})")]
    UnsupportedVersion {
        /// The message type.
        message: &'static str,
        /// The version asked for.
        version: i16,
        /// Lowest valid version.
        min: i16,
        /// Highest valid version.
        max: i16,
    },
    /// Encoding a field that the version lacks, with a non-default value (Kafka's
    /// `UnsupportedVersionException` "Attempted to write a non-default ... at version ...").
    #[error("attempted to write a non-default {field} at version {version}")]
    FieldNotInVersion {
        /// The field's name.
        field: &'static str,
        /// The version being written.
        version: i16,
    },
    /// Encoding a string longer than Kafka allows (32767 bytes).
    #[error("string of {0} bytes is too long to encode")]
    StringTooLong(usize),
}

/// A value with a compact (flexible-version) wire form. `version` is the message version, for
/// structs whose fields depend on it.
pub trait Wire: Sized {
    /// Reads one value; never reads past the frame, never allocates more than the frame holds.
    fn read<B: ByteBuf>(buf: &mut B, version: i16) -> Result<Self, WireError>;
    /// Writes one value.
    fn write<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> Result<(), WireError>;
}

fn need<B: ByteBuf>(buf: &B, n: usize) -> Result<(), WireError> {
    let left = buf.remaining();
    if left < n {
        return Err(WireError::Truncated { needed: n, left });
    }
    Ok(())
}

/// Reads an unsigned varint (at most 5 bytes, as Kafka's `ByteUtils.readUnsignedVarint`).
pub fn read_uvarint<B: ByteBuf>(buf: &mut B) -> Result<u32, WireError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1)?;
        let b = buf.get_u8();
        value |= ((b & 0x7f) as u32) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::VarintOverflow)
}

/// Writes an unsigned varint.
pub fn write_uvarint<B: ByteBufMut>(buf: &mut B, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Reads a compact length (`n + 1`, 0 for null); `None` is null. A length over `max`, or over
/// what is left of the frame (each item takes at least one byte), is an error.
fn read_compact_len<B: ByteBuf>(
    buf: &mut B,
    what: &'static str,
    max: usize,
) -> Result<Option<usize>, WireError> {
    let raw = read_uvarint(buf)?;
    if raw == 0 {
        return Ok(None);
    }
    let len = (raw - 1) as usize;
    let left = buf.remaining();
    if len > left || len > max {
        return Err(WireError::BadLength {
            what,
            len: len as u64,
            left,
        });
    }
    Ok(Some(len))
}

fn write_compact_len<B: ByteBufMut>(buf: &mut B, len: Option<usize>) {
    write_uvarint(buf, len.map_or(0, |n| n as u32 + 1));
}

macro_rules! fixed_wire {
    ($($t:ty => $get:ident, $put:ident;)*) => {$(
        impl Wire for $t {
            fn read<B: ByteBuf>(buf: &mut B, _: i16) -> Result<Self, WireError> {
                need(buf, std::mem::size_of::<$t>())?;
                Ok(buf.$get())
            }
            fn write<B: ByteBufMut>(&self, buf: &mut B, _: i16) -> Result<(), WireError> {
                buf.$put(*self);
                Ok(())
            }
        }
    )*};
}

fixed_wire! {
    i8 => get_i8, put_i8;
    i16 => get_i16, put_i16;
    i32 => get_i32, put_i32;
    i64 => get_i64, put_i64;
    u16 => get_u16, put_u16;
}

impl Wire for bool {
    fn read<B: ByteBuf>(buf: &mut B, _: i16) -> Result<Self, WireError> {
        need(buf, 1)?;
        Ok(buf.get_u8() != 0)
    }
    fn write<B: ByteBufMut>(&self, buf: &mut B, _: i16) -> Result<(), WireError> {
        buf.put_u8(*self as u8);
        Ok(())
    }
}

fn read_nullable_string<B: ByteBuf>(buf: &mut B) -> Result<Option<StrBytes>, WireError> {
    let Some(len) = read_compact_len(buf, "string", MAX_STRING_LEN)? else {
        return Ok(None);
    };
    let bytes = buf.get_bytes(len);
    StrBytes::from_utf8(bytes)
        .map(Some)
        .map_err(|_| WireError::InvalidUtf8)
}

fn write_nullable_string<B: ByteBufMut>(
    buf: &mut B,
    s: Option<&StrBytes>,
) -> Result<(), WireError> {
    if let Some(s) = s {
        if s.len() > MAX_STRING_LEN {
            return Err(WireError::StringTooLong(s.len()));
        }
    }
    write_compact_len(buf, s.map(|s| s.len()));
    if let Some(s) = s {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

impl Wire for StrBytes {
    fn read<B: ByteBuf>(buf: &mut B, _: i16) -> Result<Self, WireError> {
        read_nullable_string(buf)?.ok_or(WireError::UnexpectedNull("string"))
    }
    fn write<B: ByteBufMut>(&self, buf: &mut B, _: i16) -> Result<(), WireError> {
        write_nullable_string(buf, Some(self))
    }
}

impl Wire for Option<StrBytes> {
    fn read<B: ByteBuf>(buf: &mut B, _: i16) -> Result<Self, WireError> {
        read_nullable_string(buf)
    }
    fn write<B: ByteBufMut>(&self, buf: &mut B, _: i16) -> Result<(), WireError> {
        write_nullable_string(buf, self.as_ref())
    }
}

/// Entity-typed strings (`"entityType": "groupId"` / `"topicName"`) use `kafka-protocol`'s
/// newtypes, as its generated messages do.
macro_rules! entity_wire {
    ($($t:ident),*) => {$(
        impl Wire for $t {
            fn read<B: ByteBuf>(buf: &mut B, v: i16) -> Result<Self, WireError> {
                StrBytes::read(buf, v).map($t)
            }
            fn write<B: ByteBufMut>(&self, buf: &mut B, v: i16) -> Result<(), WireError> {
                self.0.write(buf, v)
            }
        }

        impl Wire for Option<$t> {
            fn read<B: ByteBuf>(buf: &mut B, _: i16) -> Result<Self, WireError> {
                Ok(read_nullable_string(buf)?.map($t))
            }
            fn write<B: ByteBufMut>(&self, buf: &mut B, _: i16) -> Result<(), WireError> {
                write_nullable_string(buf, self.as_ref().map(|s| &s.0))
            }
        }
    )*};
}

entity_wire!(GroupId, TopicName);

fn read_nullable_array<T: Wire, B: ByteBuf>(
    buf: &mut B,
    version: i16,
) -> Result<Option<Vec<T>>, WireError> {
    let Some(len) = read_compact_len(buf, "array", usize::MAX)? else {
        return Ok(None);
    };
    // `len` is at most the bytes left, but one wire byte may stand for a large struct: reserve at
    // most 64 KiB up front and let the elements actually decoded grow the rest.
    let mut items = Vec::with_capacity(len.min(PREALLOC_BYTES / std::mem::size_of::<T>().max(1)));
    for _ in 0..len {
        items.push(T::read(buf, version)?);
    }
    Ok(Some(items))
}

fn write_nullable_array<T: Wire, B: ByteBufMut>(
    buf: &mut B,
    items: Option<&Vec<T>>,
    version: i16,
) -> Result<(), WireError> {
    write_compact_len(buf, items.map(|v| v.len()));
    for item in items.into_iter().flatten() {
        item.write(buf, version)?;
    }
    Ok(())
}

impl<T: Wire> Wire for Vec<T> {
    fn read<B: ByteBuf>(buf: &mut B, version: i16) -> Result<Self, WireError> {
        read_nullable_array(buf, version)?.ok_or(WireError::UnexpectedNull("array"))
    }
    fn write<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> Result<(), WireError> {
        write_nullable_array(buf, Some(self), version)
    }
}

impl<T: Wire> Wire for Option<Vec<T>> {
    fn read<B: ByteBuf>(buf: &mut B, version: i16) -> Result<Self, WireError> {
        read_nullable_array(buf, version)
    }
    fn write<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> Result<(), WireError> {
        write_nullable_array(buf, self.as_ref(), version)
    }
}

/// Reads a nullable struct: a marker byte, negative for null (Kafka writes -1 and 1, and reads
/// any negative marker as null, anything else as present).
pub fn read_nullable_struct<T: Wire, B: ByteBuf>(
    buf: &mut B,
    version: i16,
) -> Result<Option<T>, WireError> {
    if i8::read(buf, version)? < 0 {
        return Ok(None);
    }
    T::read(buf, version).map(Some)
}

/// Writes a nullable struct.
pub fn write_nullable_struct<T: Wire, B: ByteBufMut>(
    buf: &mut B,
    value: Option<&T>,
    version: i16,
) -> Result<(), WireError> {
    match value {
        None => buf.put_i8(-1),
        Some(v) => {
            buf.put_i8(1);
            v.write(buf, version)?;
        }
    }
    Ok(())
}

/// Reads a struct's tagged-field section, keeping every field (none of the Streams messages
/// defines a tagged field yet, so all are unknown) for re-encoding. Like Kafka's reader it takes
/// tags in any order; a repeated tag keeps its last value.
pub fn read_tagged_fields<B: ByteBuf>(buf: &mut B) -> Result<BTreeMap<i32, Bytes>, WireError> {
    let count = read_uvarint(buf)? as usize;
    // Each tagged field takes at least two bytes (tag, size).
    if count.saturating_mul(2) > buf.remaining() {
        return Err(WireError::BadLength {
            what: "tagged field",
            len: count as u64,
            left: buf.remaining(),
        });
    }
    let mut fields = BTreeMap::new();
    for _ in 0..count {
        let tag = read_uvarint(buf)?;
        if tag > i32::MAX as u32 {
            return Err(WireError::BadTag(tag));
        }
        let size = read_uvarint(buf)? as usize;
        if size > buf.remaining() {
            return Err(WireError::BadLength {
                what: "tagged field",
                len: size as u64,
                left: buf.remaining(),
            });
        }
        fields.insert(tag as i32, buf.get_bytes(size));
    }
    Ok(fields)
}

/// Writes a struct's tagged-field section.
pub fn write_tagged_fields<B: ByteBufMut>(
    buf: &mut B,
    fields: &BTreeMap<i32, Bytes>,
) -> Result<(), WireError> {
    write_uvarint(buf, fields.len() as u32);
    for (tag, value) in fields {
        write_uvarint(buf, *tag as u32);
        write_uvarint(buf, value.len() as u32);
        buf.put_slice(value);
    }
    Ok(())
}

/// Whether a field present in versions `min..=max` is on the wire at `version`.
pub fn has_field(version: i16, min: i16, max: i16) -> bool {
    (min..=max).contains(&version)
}

/// Defines a struct from a Kafka message field list: each field with its version range
/// `[min, max]` (`max` is `LATEST` for "min+"), whether it is ignorable, and its default (the
/// JSON `default`, also the value read at versions without the field). The struct gets
/// `Default`, `Wire` (bounded decode, encode that refuses a non-default non-ignorable field at a
/// version without it), nullable-struct `Wire` for `Option<Self>`, and an
/// `unknown_tagged_fields` map, like `kafka-protocol`'s generated types.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                [$min:literal, $max:expr, $ignorable:literal]
                pub $field:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )*
            /// Tagged fields this version does not know, kept for re-encoding.
            pub unknown_tagged_fields: std::collections::BTreeMap<i32, bytes::Bytes>,
        }

        impl Default for $name {
            fn default() -> Self {
                Self {
                    $($field: $default,)*
                    unknown_tagged_fields: std::collections::BTreeMap::new(),
                }
            }
        }

        impl $crate::streams::wire::Wire for $name {
            fn read<B: kafka_protocol::protocol::buf::ByteBuf>(
                buf: &mut B,
                version: i16,
            ) -> Result<Self, $crate::streams::wire::WireError> {
                $(
                    let $field: $ty = if $crate::streams::wire::has_field(version, $min, $max) {
                        $crate::streams::wire::Wire::read(buf, version)?
                    } else {
                        $default
                    };
                )*
                let unknown_tagged_fields = $crate::streams::wire::read_tagged_fields(buf)?;
                Ok(Self { $($field,)* unknown_tagged_fields })
            }

            fn write<B: kafka_protocol::protocol::buf::ByteBufMut>(
                &self,
                buf: &mut B,
                version: i16,
            ) -> Result<(), $crate::streams::wire::WireError> {
                $(
                    if $crate::streams::wire::has_field(version, $min, $max) {
                        $crate::streams::wire::Wire::write(&self.$field, buf, version)?;
                    } else if !$ignorable && self.$field != { let d: $ty = $default; d } {
                        return Err($crate::streams::wire::WireError::FieldNotInVersion {
                            field: stringify!($field),
                            version,
                        });
                    }
                )*
                $crate::streams::wire::write_tagged_fields(buf, &self.unknown_tagged_fields)
            }
        }

        impl $crate::streams::wire::Wire for Option<$name> {
            fn read<B: kafka_protocol::protocol::buf::ByteBuf>(
                buf: &mut B,
                version: i16,
            ) -> Result<Self, $crate::streams::wire::WireError> {
                $crate::streams::wire::read_nullable_struct(buf, version)
            }
            fn write<B: kafka_protocol::protocol::buf::ByteBufMut>(
                &self,
                buf: &mut B,
                version: i16,
            ) -> Result<(), $crate::streams::wire::WireError> {
                $crate::streams::wire::write_nullable_struct(buf, self.as_ref(), version)
            }
        }
    };
}

/// Makes a `wire_struct!` type a top-level API message: `kafka-protocol`'s `Message`,
/// `Encodable`, `Decodable` and `HeaderVersion`, so it frames like every other message.
macro_rules! wire_message {
    ($name:ident, $min:literal, $max:literal, header $header:literal) => {
        impl kafka_protocol::protocol::Message for $name {
            const VERSIONS: kafka_protocol::protocol::VersionRange =
                kafka_protocol::protocol::VersionRange {
                    min: $min,
                    max: $max,
                };
            const DEPRECATED_VERSIONS: Option<kafka_protocol::protocol::VersionRange> = None;
        }

        impl $name {
            fn check_version(version: i16) -> Result<(), $crate::streams::wire::WireError> {
                if !($min..=$max).contains(&version) {
                    return Err($crate::streams::wire::WireError::UnsupportedVersion {
                        message: stringify!($name),
                        version,
                        min: $min,
                        max: $max,
                    });
                }
                Ok(())
            }
        }

        impl kafka_protocol::protocol::Encodable for $name {
            fn encode<B: kafka_protocol::protocol::buf::ByteBufMut>(
                &self,
                buf: &mut B,
                version: i16,
            ) -> anyhow::Result<()> {
                Self::check_version(version)?;
                Ok($crate::streams::wire::Wire::write(self, buf, version)?)
            }
            fn compute_size(&self, version: i16) -> anyhow::Result<usize> {
                let mut scratch = Vec::new();
                kafka_protocol::protocol::Encodable::encode(self, &mut scratch, version)?;
                Ok(scratch.len())
            }
        }

        impl kafka_protocol::protocol::Decodable for $name {
            fn decode<B: kafka_protocol::protocol::buf::ByteBuf>(
                buf: &mut B,
                version: i16,
            ) -> anyhow::Result<Self> {
                Self::check_version(version)?;
                Ok(<Self as $crate::streams::wire::Wire>::read(buf, version)?)
            }
        }

        impl kafka_protocol::protocol::HeaderVersion for $name {
            fn header_version(_version: i16) -> i16 {
                $header
            }
        }
    };
}

/// The `max` of a field range meaning "this version and every later one" (JSON `"N+"`).
pub const LATEST: i16 = i16::MAX;

pub(crate) use {wire_message, wire_struct};

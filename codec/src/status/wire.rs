//! Just enough of the protobuf wire format for `google.rpc.Status`: varints and
//! length-delimited fields out; a bounded reader that skips every wire type in.

use super::rpc::RpcStatusError;
use bytes::{BufMut, Bytes};

pub(super) const WIRE_VARINT: u8 = 0;
pub(super) const WIRE_FIXED64: u8 = 1;
pub(super) const WIRE_LEN: u8 = 2;
pub(super) const WIRE_START_GROUP: u8 = 3;
pub(super) const WIRE_END_GROUP: u8 = 4;
pub(super) const WIRE_FIXED32: u8 = 5;

/// How deeply unknown groups may nest before the input is rejected; protobuf
/// implementations use 100 for the same purpose.
pub(super) const MAX_GROUP_DEPTH: u32 = 100;

/// The largest field number protobuf allows (2^29 - 1).
const MAX_FIELD_NUMBER: u32 = (1 << 29) - 1;

pub(super) const fn varint_len(value: u64) -> usize {
    // Each byte carries 7 bits; `| 1` makes zero take one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

pub(super) fn put_varint(buf: &mut impl BufMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

pub(super) fn put_tag(buf: &mut impl BufMut, field: u32, wire_type: u8) {
    put_varint(buf, u64::from(field << 3 | u32::from(wire_type)));
}

pub(super) fn put_len_delimited(buf: &mut impl BufMut, field: u32, bytes: &[u8]) {
    put_tag(buf, field, WIRE_LEN);
    put_varint(buf, bytes.len() as u64);
    buf.put_slice(bytes);
}

/// The encoded length of a length-delimited field with a one-byte tag.
pub(super) const fn len_delimited_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A field key: its number and wire type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tag {
    pub(super) field: u32,
    pub(super) wire_type: u8,
}

/// Reads fields out of one message's bytes; every step checks the bounds.
pub(super) struct Reader<'a> {
    source: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(source: &'a Bytes) -> Reader<'a> {
        Reader { source, pos: 0 }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.source.len()
    }

    fn next_byte(&mut self) -> Result<u8, RpcStatusError> {
        let byte = *self.source.get(self.pos).ok_or(RpcStatusError::Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    pub(super) fn varint(&mut self) -> Result<u64, RpcStatusError> {
        let mut value = 0u64;
        for index in 0..10 {
            let byte = self.next_byte()?;
            // The tenth byte holds bit 63 only; anything more overflows a u64.
            if index == 9 && byte > 1 {
                return Err(RpcStatusError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7F) << (7 * index);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(RpcStatusError::VarintOverflow)
    }

    pub(super) fn tag(&mut self) -> Result<Tag, RpcStatusError> {
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| RpcStatusError::InvalidTag)?;
        let field = key >> 3;
        if field == 0 || field > MAX_FIELD_NUMBER {
            return Err(RpcStatusError::InvalidTag);
        }
        Ok(Tag {
            field,
            wire_type: (key & 7) as u8,
        })
    }

    fn advance(&mut self, len: usize) -> Result<(), RpcStatusError> {
        let end = self.pos.checked_add(len).ok_or(RpcStatusError::Truncated)?;
        if end > self.source.len() {
            return Err(RpcStatusError::Truncated);
        }
        self.pos = end;
        Ok(())
    }

    /// The payload of a length-delimited field, sharing the source's memory.
    pub(super) fn len_delimited(&mut self) -> Result<Bytes, RpcStatusError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| RpcStatusError::Truncated)?;
        let start = self.pos;
        self.advance(len)?;
        Ok(self.source.slice(start..self.pos))
    }

    /// Skips the value of a field this decoder does not know.
    pub(super) fn skip(&mut self, tag: Tag, depth: u32) -> Result<(), RpcStatusError> {
        match tag.wire_type {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.advance(8),
            WIRE_LEN => self.len_delimited().map(drop),
            WIRE_FIXED32 => self.advance(4),
            WIRE_START_GROUP => self.skip_group(tag.field, depth + 1),
            WIRE_END_GROUP => Err(RpcStatusError::UnexpectedEndGroup),
            other => Err(RpcStatusError::InvalidWireType(other)),
        }
    }

    fn skip_group(&mut self, field: u32, depth: u32) -> Result<(), RpcStatusError> {
        if depth > MAX_GROUP_DEPTH {
            return Err(RpcStatusError::TooDeep);
        }
        loop {
            if self.is_empty() {
                return Err(RpcStatusError::Truncated);
            }
            let tag = self.tag()?;
            if tag.wire_type == WIRE_END_GROUP {
                return if tag.field == field {
                    Ok(())
                } else {
                    Err(RpcStatusError::UnexpectedEndGroup)
                };
            }
            self.skip(tag, depth)?;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use quickcheck_macros::quickcheck;

    #[test]
    fn varint_lengths() {
        let cases: &[(u64, usize)] = &[
            (0, 1),
            (1, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::from(u32::MAX), 5),
            (u64::MAX, 10),
        ];
        for &(value, len) in cases {
            assert_eq!(varint_len(value), len, "value {value}");
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            assert_eq!(buf.len(), len, "value {value}");
        }
    }

    #[test]
    fn rejects_bad_varints() {
        let cases: &[(&[u8], RpcStatusError)] = &[
            (b"", RpcStatusError::Truncated),
            (b"\x80", RpcStatusError::Truncated),
            (b"\xff\xff", RpcStatusError::Truncated),
            (
                b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",
                RpcStatusError::VarintOverflow,
            ),
            (
                b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x01",
                RpcStatusError::VarintOverflow,
            ),
        ];
        for (input, err) in cases {
            let bytes = Bytes::from_static(input);
            assert_eq!(Reader::new(&bytes).varint(), Err(*err), "input {input:?}");
        }
        let max = Bytes::from_static(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
        assert_eq!(Reader::new(&max).varint(), Ok(u64::MAX));
    }

    #[test]
    fn rejects_bad_tags() {
        let cases: &[&[u8]] = &[
            b"\x00",                 // field 0
            b"\x07",                 // field 0, wire type 7
            b"\x80\x80\x80\x80\x10", // key above u32::MAX
        ];
        for input in cases {
            let bytes = Bytes::from_static(input);
            assert_eq!(
                Reader::new(&bytes).tag(),
                Err(RpcStatusError::InvalidTag),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn skips_each_wire_type() {
        let cases: &[(&[u8], Result<usize, RpcStatusError>)] = &[
            (b"\x20\x96\x01", Ok(3)),                         // field 4 varint
            (b"\x21\x01\x02\x03\x04\x05\x06\x07\x08", Ok(9)), // fixed64
            (b"\x25\x01\x02\x03\x04", Ok(5)),                 // fixed32
            (b"\x22\x02ab", Ok(4)),                           // bytes
            (b"\x23\x20\x01\x24", Ok(4)),                     // group with a varint
            (b"\x23\x2b\x2c\x24", Ok(4)),                     // nested group
            (b"\x21\x01\x02", Err(RpcStatusError::Truncated)),
            (b"\x25\x01", Err(RpcStatusError::Truncated)),
            (b"\x22\x05ab", Err(RpcStatusError::Truncated)),
            (b"\x23\x20\x01", Err(RpcStatusError::Truncated)),
            (b"\x23\x2c", Err(RpcStatusError::UnexpectedEndGroup)),
            (b"\x24", Err(RpcStatusError::UnexpectedEndGroup)),
            (b"\x26", Err(RpcStatusError::InvalidWireType(6))),
            (b"\x27", Err(RpcStatusError::InvalidWireType(7))),
        ];
        for (input, expected) in cases {
            let bytes = Bytes::from_static(input);
            let mut reader = Reader::new(&bytes);
            let result = reader.tag().and_then(|tag| reader.skip(tag, 0));
            assert_eq!(result.map(|()| reader.pos), *expected, "input {input:?}");
        }
    }

    #[test]
    fn deep_groups_are_rejected_not_recursed_forever() {
        let depth = MAX_GROUP_DEPTH as usize + 5;
        let mut input = Vec::new();
        input.resize(depth, 0x0b); // field 1, start group
        input.resize(2 * depth, 0x0c); // field 1, end group
        let bytes = Bytes::from(input);
        let mut reader = Reader::new(&bytes);
        let tag = reader.tag().unwrap();
        assert_eq!(reader.skip(tag, 0), Err(RpcStatusError::TooDeep));

        let depth = MAX_GROUP_DEPTH as usize;
        let mut input = Vec::new();
        input.resize(depth, 0x0b);
        input.resize(2 * depth, 0x0c);
        let bytes = Bytes::from(input);
        let mut reader = Reader::new(&bytes);
        let tag = reader.tag().unwrap();
        assert_eq!(reader.skip(tag, 0), Ok(()));
        assert!(reader.is_empty());
    }

    #[quickcheck]
    fn varints_round_trip(value: u64) -> bool {
        let mut buf = Vec::new();
        put_varint(&mut buf, value);
        let bytes = Bytes::from(buf);
        let mut reader = Reader::new(&bytes);
        reader.varint() == Ok(value) && reader.is_empty() && varint_len(value) == bytes.len()
    }
}

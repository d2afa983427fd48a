//! A CDR (XCDR1, little-endian) writer and reader with the ROS 2 encapsulation header.
//!
//! Layout rules (OMG CDR, as used by ROS 2 through Fast-CDR and Cyclone DDS):
//! - every payload starts with the 4-byte encapsulation header `00 01 00 00` (CDR_LE);
//! - a primitive of size n (1, 2, 4 or 8 bytes) is aligned to n bytes, counted from the byte
//!   after the encapsulation header, with zero padding;
//! - a string is a `u32` length that counts the terminating NUL, the UTF-8 bytes, then NUL;
//! - a sequence is a `u32` element count followed by the elements;
//! - `bool` is one byte, 0 or 1.

use crate::error::{DecodeError, EncodeError};

/// The encapsulation header of little-endian plain CDR (ROS 2's default representation).
pub const CDR_LE_HEADER: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// Largest string this codec writes or accepts, in bytes.
pub const MAX_STRING_BYTES: usize = 1 << 16;
/// Largest number of elements in a sequence of numbers or structs.
pub const MAX_SEQUENCE_LEN: usize = 1 << 24;
/// Largest byte array (an image's pixels, a weights chunk).
pub const MAX_BYTES_LEN: usize = 1 << 29;

/// Serialises values into a CDR little-endian buffer.
#[derive(Debug, Clone)]
pub struct CdrWriter {
    buf: Vec<u8>,
}

impl Default for CdrWriter {
    fn default() -> Self {
        Self::with_capacity(64)
    }
}

impl CdrWriter {
    /// A writer whose buffer already holds the encapsulation header.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(4));
        buf.extend_from_slice(&CDR_LE_HEADER);
        Self { buf }
    }

    /// The finished payload, header included.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn align(&mut self, n: usize) {
        let pos = self.buf.len() - CDR_LE_HEADER.len();
        let pad = (n - pos % n) % n;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// Writes a `uint8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Writes a `bool` as one byte.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Writes a `uint32`.
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes an `int32`.
    pub fn i32(&mut self, v: i32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes a `uint64`.
    pub fn u64(&mut self, v: u64) {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes a `float32`.
    pub fn f32(&mut self, v: f32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes a `float64`.
    pub fn f64(&mut self, v: f64) {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes a sequence length prefix after checking it against `max`.
    pub fn seq_len(
        &mut self,
        field: &'static str,
        len: usize,
        max: usize,
    ) -> Result<(), EncodeError> {
        if len > max {
            return Err(EncodeError::TooLarge { field, len, max });
        }
        // `max` never exceeds u32::MAX for any limit defined here.
        self.u32(u32::try_from(len).map_err(|_| EncodeError::TooLarge { field, len, max })?);
        Ok(())
    }

    /// Writes a string (length with NUL, bytes, NUL).
    pub fn string(&mut self, field: &'static str, s: &str) -> Result<(), EncodeError> {
        if s.as_bytes().contains(&0) {
            return Err(EncodeError::NulInString { field });
        }
        self.seq_len(field, s.len() + 1, MAX_STRING_BYTES + 1)?;
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    /// Writes a `uint8[]` sequence.
    pub fn bytes(&mut self, field: &'static str, data: &[u8]) -> Result<(), EncodeError> {
        self.seq_len(field, data.len(), MAX_BYTES_LEN)?;
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Writes a `float64[]` sequence.
    pub fn f64_seq(&mut self, field: &'static str, values: &[f64]) -> Result<(), EncodeError> {
        self.seq_len(field, values.len(), MAX_SEQUENCE_LEN)?;
        if !values.is_empty() {
            self.align(8);
        }
        self.buf.reserve(values.len() * 8);
        for v in values {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }

    /// Writes a `float32[]` sequence.
    pub fn f32_seq(&mut self, field: &'static str, values: &[f32]) -> Result<(), EncodeError> {
        self.seq_len(field, values.len(), MAX_SEQUENCE_LEN)?;
        self.buf.reserve(values.len() * 4);
        for v in values {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        Ok(())
    }

    /// Writes a `string[]` sequence.
    pub fn string_seq(
        &mut self,
        field: &'static str,
        values: &[String],
    ) -> Result<(), EncodeError> {
        self.seq_len(field, values.len(), MAX_SEQUENCE_LEN)?;
        for s in values {
            self.string(field, s)?;
        }
        Ok(())
    }
}

/// Reads values from a CDR little-endian payload, checking every length against the input.
#[derive(Debug, Clone)]
pub struct CdrReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> CdrReader<'a> {
    /// Checks the encapsulation header and positions the reader after it.
    pub fn new(data: &'a [u8]) -> Result<Self, DecodeError> {
        match data.get(..4) {
            Some(header) if header[..2] == CDR_LE_HEADER[..2] => Ok(Self { data, pos: 4 }),
            Some(header) => Err(DecodeError::BadEncapsulation {
                found: header.to_vec(),
            }),
            None => Err(DecodeError::BadEncapsulation {
                found: data.to_vec(),
            }),
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn align(&mut self, field: &'static str, n: usize) -> Result<(), DecodeError> {
        let rel = self.pos - CDR_LE_HEADER.len();
        let pad = (n - rel % n) % n;
        self.take(field, pad).map(|_| ())
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                field,
                needed: n,
                offset: self.pos,
                available: self.remaining(),
            });
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        self.align(field, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    /// Reads a `uint8`.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(field, 1)?[0])
    }

    /// Reads a `bool`, rejecting bytes other than 0 and 1.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::BadBool { field, value }),
        }
    }

    /// Reads a `uint32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// Reads an `int32`.
    pub fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array(field)?))
    }

    /// Reads a `uint64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// Reads a `float32`.
    pub fn f32(&mut self, field: &'static str) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.array(field)?))
    }

    /// Reads a `float64`.
    pub fn f64(&mut self, field: &'static str) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.array(field)?))
    }

    /// Reads a sequence length, rejecting counts above `max` or counts whose elements
    /// (at least `min_elem_bytes` each) could not fit in the remaining input.
    pub fn seq_len(
        &mut self,
        field: &'static str,
        min_elem_bytes: usize,
        max: usize,
    ) -> Result<usize, DecodeError> {
        let len = self.u32(field)? as usize;
        if len > max {
            return Err(DecodeError::TooLarge {
                field,
                len: len as u64,
                max: max as u64,
            });
        }
        let needed = len.saturating_mul(min_elem_bytes);
        if needed > self.remaining() {
            return Err(DecodeError::Truncated {
                field,
                needed,
                offset: self.pos,
                available: self.remaining(),
            });
        }
        Ok(len)
    }

    /// Reads a string.
    pub fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self.seq_len(field, 1, MAX_STRING_BYTES + 1)?;
        if len == 0 {
            return Err(DecodeError::BadString {
                field,
                reason: "length 0 leaves no room for the terminating NUL",
            });
        }
        let raw = self.take(field, len)?;
        let (body, nul) = raw.split_at(len - 1);
        if nul != [0] {
            return Err(DecodeError::BadString {
                field,
                reason: "missing terminating NUL",
            });
        }
        if body.contains(&0) {
            return Err(DecodeError::BadString {
                field,
                reason: "NUL byte inside the string",
            });
        }
        String::from_utf8(body.to_vec()).map_err(|_| DecodeError::BadString {
            field,
            reason: "not valid UTF-8",
        })
    }

    /// Reads a `uint8[]` sequence.
    pub fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, DecodeError> {
        let len = self.seq_len(field, 1, MAX_BYTES_LEN)?;
        Ok(self.take(field, len)?.to_vec())
    }

    /// Reads a `float64[]` sequence.
    pub fn f64_seq(&mut self, field: &'static str) -> Result<Vec<f64>, DecodeError> {
        let len = self.seq_len(field, 8, MAX_SEQUENCE_LEN)?;
        if len > 0 {
            self.align(field, 8)?;
        }
        let raw = self.take(field, len * 8)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    /// Reads a `float32[]` sequence.
    pub fn f32_seq(&mut self, field: &'static str) -> Result<Vec<f32>, DecodeError> {
        let len = self.seq_len(field, 4, MAX_SEQUENCE_LEN)?;
        let raw = self.take(field, len * 4)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Reads a `string[]` sequence.
    pub fn string_seq(&mut self, field: &'static str) -> Result<Vec<String>, DecodeError> {
        // Each string takes at least 5 bytes: the length and the NUL.
        let len = self.seq_len(field, 5, MAX_SEQUENCE_LEN)?;
        (0..len).map(|_| self.string(field)).collect()
    }

    /// Checks that nothing but final alignment padding (at most 3 zero bytes) remains.
    pub fn finish(self) -> Result<(), DecodeError> {
        let rest = &self.data[self.pos..];
        if rest.len() < 4 && rest.iter().all(|b| *b == 0) {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { count: rest.len() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_counts_from_after_the_encapsulation_header() {
        let mut w = CdrWriter::default();
        w.u8(7);
        w.f64(1.0);
        let bytes = w.into_bytes();
        // header(4) + u8(1) + 7 bytes padding + f64(8)
        assert_eq!(bytes.len(), 4 + 1 + 7 + 8);
        assert_eq!(&bytes[5..12], &[0; 7]);
        let mut r = CdrReader::new(&bytes).unwrap();
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.f64("b").unwrap(), 1.0);
        r.finish().unwrap();
    }

    #[test]
    fn an_absurd_sequence_length_is_rejected_before_allocating() {
        let mut w = CdrWriter::default();
        w.u32(u32::MAX);
        let bytes = w.into_bytes();
        let mut r = CdrReader::new(&bytes).unwrap();
        assert!(matches!(r.f64_seq("x"), Err(DecodeError::TooLarge { .. })));
        let mut w = CdrWriter::default();
        w.u32(1000);
        let bytes = w.into_bytes();
        let mut r = CdrReader::new(&bytes).unwrap();
        assert!(matches!(r.f64_seq("x"), Err(DecodeError::Truncated { .. })));
    }

    #[test]
    fn strings_need_their_nul_and_valid_utf8() {
        for (body, reason) in [
            (&b"ab"[..], "missing terminating NUL"),
            (&b"a\0\0"[..], "NUL byte inside the string"),
            (&b"\xff\0"[..], "not valid UTF-8"),
        ] {
            let mut w = CdrWriter::default();
            w.u32(body.len() as u32);
            let mut bytes = w.into_bytes();
            bytes.extend_from_slice(body);
            let err = CdrReader::new(&bytes).unwrap().string("s").unwrap_err();
            assert_eq!(err, DecodeError::BadString { field: "s", reason });
        }
    }

    #[test]
    fn trailing_garbage_is_rejected_but_padding_is_not() {
        let mut ok = CdrWriter::default().into_bytes();
        ok.extend_from_slice(&[0, 0, 0]);
        CdrReader::new(&ok).unwrap().finish().unwrap();
        let mut bad = CdrWriter::default().into_bytes();
        bad.extend_from_slice(&[1]);
        assert_eq!(
            CdrReader::new(&bad).unwrap().finish(),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn big_endian_and_short_headers_are_rejected() {
        assert!(matches!(
            CdrReader::new(&[0, 0, 0, 0]),
            Err(DecodeError::BadEncapsulation { .. })
        ));
        assert!(matches!(
            CdrReader::new(&[0, 1]),
            Err(DecodeError::BadEncapsulation { .. })
        ));
    }
}

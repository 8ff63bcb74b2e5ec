//! Primitive jute encoding: the reader ([`InputArchive`]) and writer ([`OutputArchive`]).
//!
//! Mirrors ZooKeeper's `BinaryInputArchive` / `BinaryOutputArchive`. Strings are written the
//! way Java writes them: each UTF-16 code unit on its own, so a character outside the BMP
//! becomes two 3-byte surrogate sequences (CESU-8). Reading accepts UTF-8 and CESU-8.
//! The reader must never panic and never trust a length prefix: a length is checked against
//! the remaining input before anything is allocated, and against the configured max buffer.

use thiserror::Error;

/// What can go wrong while decoding jute bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JuteError {
    /// The input ended before the record did.
    #[error("truncated record: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    /// A length prefix is negative (other than -1 for null) or larger than allowed.
    #[error("bad length {len} at offset {offset} (limit {limit})")]
    BadLength { offset: usize, len: i64, limit: usize },
    /// A string is neither UTF-8 nor Java's CESU-8.
    #[error("string at offset {offset} is not valid UTF-8 or CESU-8")]
    BadString { offset: usize },
    /// A value is outside what the record allows (unknown opcode in a multi, ...).
    #[error("invalid value: {0}")]
    Invalid(String),
}

/// Reads jute primitives from a byte slice. Never panics.
pub struct InputArchive<'a> {
    buf: &'a [u8],
    pos: usize,
    max_len: usize,
}

impl<'a> InputArchive<'a> {
    /// A reader over `buf` where no single buffer/string/vector may exceed `max_len`.
    pub fn new(buf: &'a [u8], max_len: usize) -> Self {
        InputArchive { buf, pos: 0, max_len }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread tail.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], JuteError> {
        if self.remaining() < n {
            return Err(JuteError::Truncated { offset: self.pos, needed: n - self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], JuteError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn read_i32(&mut self) -> Result<i32, JuteError> {
        Ok(i32::from_be_bytes(self.take_array()?))
    }

    pub fn read_i64(&mut self) -> Result<i64, JuteError> {
        Ok(i64::from_be_bytes(self.take_array()?))
    }

    pub fn read_u8(&mut self) -> Result<u8, JuteError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// A jute boolean: one byte, non-zero is true (Java's `readBoolean`).
    pub fn read_bool(&mut self) -> Result<bool, JuteError> {
        Ok(self.read_u8()? != 0)
    }

    /// Reads a length prefix; `None` for -1 (null). Checks it against the remaining input
    /// (scaled by `min_elem_size`) and the max buffer before the caller allocates.
    pub fn read_len(&mut self, min_elem_size: usize) -> Result<Option<usize>, JuteError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > self.max_len {
            return Err(JuteError::BadLength { offset, len: len as i64, limit: self.max_len });
        }
        let len = len as usize;
        let needed = len.saturating_mul(min_elem_size.max(1));
        if min_elem_size > 0 && needed > self.remaining() {
            return Err(JuteError::Truncated { offset: self.pos, needed: needed - self.remaining() });
        }
        Ok(Some(len))
    }

    /// A buffer; `None` for null (-1).
    pub fn read_buffer(&mut self) -> Result<Option<Vec<u8>>, JuteError> {
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A ustring; `None` for null (-1).
    pub fn read_ustring(&mut self) -> Result<Option<String>, JuteError> {
        let offset = self.pos;
        match self.read_len(1)? {
            None => Ok(None),
            Some(n) => {
                let bytes = self.take(n)?;
                decode_java_string(bytes).map(Some).ok_or(JuteError::BadString { offset })
            }
        }
    }

    /// A ustring where null is read as the empty string (as most ZooKeeper code paths
    /// end up treating it).
    pub fn read_string(&mut self) -> Result<String, JuteError> {
        Ok(self.read_ustring()?.unwrap_or_default())
    }
}

/// Writes jute primitives into a growing buffer.
#[derive(Default, Debug, Clone)]
pub struct OutputArchive {
    buf: Vec<u8>,
}

impl OutputArchive {
    pub fn new() -> Self {
        OutputArchive { buf: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        OutputArchive { buf: Vec::with_capacity(n) }
    }

    /// Wraps an existing buffer, appending to it.
    pub fn from_vec(buf: Vec<u8>) -> Self {
        OutputArchive { buf }
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Overwrites 4 bytes at `at` (used to patch a frame length afterwards).
    pub fn patch_i32(&mut self, at: usize, v: i32) {
        if let Some(slot) = self.buf.get_mut(at..at + 4) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }

    pub fn write_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.write_i32(-1),
            Some(b) => {
                self.write_i32(b.len() as i32);
                self.buf.extend_from_slice(b);
            }
        }
    }

    pub fn write_ustring(&mut self, v: Option<&str>) {
        match v {
            None => self.write_i32(-1),
            Some(s) => {
                if s.chars().all(|c| (c as u32) < 0x10000) {
                    self.write_i32(s.len() as i32);
                    self.buf.extend_from_slice(s.as_bytes());
                } else {
                    let enc = encode_java_string(s);
                    self.write_i32(enc.len() as i32);
                    self.buf.extend_from_slice(&enc);
                }
            }
        }
    }

    pub fn write_string(&mut self, s: &str) {
        self.write_ustring(Some(s));
    }
}

/// Encodes `s` as Java's `BinaryOutputArchive` does: each UTF-16 code unit separately, so
/// supplementary characters become two 3-byte surrogate encodings (CESU-8).
pub fn encode_java_string(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 4);
    let mut units = [0u16; 2];
    for c in s.chars() {
        for &u in c.encode_utf16(&mut units).iter() {
            let u = u as u32;
            if u < 0x80 {
                out.push(u as u8);
            } else if u < 0x800 {
                out.push(0xc0 | (u >> 6) as u8);
                out.push(0x80 | (u & 0x3f) as u8);
            } else {
                out.push(0xe0 | (u >> 12) as u8);
                out.push(0x80 | ((u >> 6) & 0x3f) as u8);
                out.push(0x80 | (u & 0x3f) as u8);
            }
        }
    }
    out
}

/// Decodes a ustring as ZooKeeper's Java side does: standard UTF-8, where every malformed
/// sequence becomes one U+FFFD (JDK `UTF_8` decoder rules, so a CESU-8 surrogate triple is
/// one replacement character). Never fails.
pub fn decode_java_string(bytes: &[u8]) -> Option<String> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(s.to_owned());
    }
    let mut out = String::with_capacity(bytes.len());
    let cont = |j: usize| bytes.get(j).is_some_and(|b| b & 0xc0 == 0x80);
    let mut i = 0;
    while i < bytes.len() {
        let b1 = bytes[i];
        if b1 < 0x80 {
            out.push(b1 as char);
            i += 1;
        } else if (0xc2..=0xdf).contains(&b1) && cont(i + 1) {
            let c = (((b1 as u32) & 0x1f) << 6) | (bytes[i + 1] as u32 & 0x3f);
            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
            i += 2;
        } else if b1 & 0xf0 == 0xe0 {
            let b2 = bytes.get(i + 1).copied().unwrap_or(0);
            let malformed3 = (b1 == 0xe0 && b2 & 0xe0 == 0x80) || !cont(i + 1) || !cont(i + 2);
            if malformed3 {
                out.push('\u{fffd}');
                i += if (b1 == 0xe0 && b2 & 0xe0 == 0x80) || !cont(i + 1) { 1 } else { 2 };
            } else {
                let c = ((b1 as u32 & 0x0f) << 12) | ((b2 as u32 & 0x3f) << 6) | (bytes[i + 2] as u32 & 0x3f);
                // A surrogate (CESU-8 half) is malformed: one replacement for three bytes.
                out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                i += 3;
            }
        } else if (0xf0..=0xf4).contains(&b1) && cont(i + 1) && cont(i + 2) && cont(i + 3) {
            let c = ((b1 as u32 & 0x07) << 18)
                | ((bytes[i + 1] as u32 & 0x3f) << 12)
                | ((bytes[i + 2] as u32 & 0x3f) << 6)
                | (bytes[i + 3] as u32 & 0x3f);
            match char::from_u32(c).filter(|c| (*c as u32) >= 0x10000) {
                Some(c) => {
                    out.push(c);
                    i += 4;
                }
                None => {
                    out.push('\u{fffd}');
                    i += 1;
                }
            }
        } else {
            out.push('\u{fffd}');
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_bmp_is_written_as_cesu8_and_read_back() {
        let s = "/a\u{1F600}b";
        let enc = encode_java_string(s);
        // 2 ASCII + 2 x 3-byte surrogates + 1 ASCII
        assert_eq!(enc.len(), 1 + 1 + 6 + 1);
        assert_eq!(&enc[2..5], &[0xed, 0xa0, 0xbd]);
        // Java's reader does not join CESU-8 halves: each becomes U+FFFD.
        assert_eq!(decode_java_string(&enc).as_deref(), Some("/a\u{fffd}\u{fffd}b"));
        // A lone surrogate half is one replacement character, as in the JDK.
        assert_eq!(decode_java_string(b"x\xed\xa0\x80").as_deref(), Some("x\u{fffd}"));
        assert_eq!(decode_java_string("/é".as_bytes()).as_deref(), Some("/é"));
    }

    #[test]
    fn lengths_are_checked_before_allocating() {
        let bytes = [0x7f, 0xff, 0xff, 0xff];
        let mut inp = InputArchive::new(&bytes, usize::MAX);
        assert!(matches!(inp.read_buffer(), Err(JuteError::Truncated { .. })));
        let mut inp = InputArchive::new(&bytes, 100);
        assert!(matches!(inp.read_buffer(), Err(JuteError::BadLength { .. })));
        let bytes = [0xff, 0xff, 0xff, 0xfe];
        let mut inp = InputArchive::new(&bytes, 100);
        assert!(matches!(inp.read_buffer(), Err(JuteError::BadLength { .. })));
        let bytes = [0xff, 0xff, 0xff, 0xff];
        let mut inp = InputArchive::new(&bytes, 100);
        assert_eq!(inp.read_buffer(), Ok(None));
    }
}

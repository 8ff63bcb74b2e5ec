//! Framing of the client port: an int32 big-endian length, then that many bytes.
//!
//! [`parse_frame`] separates "need more bytes" (`Ok(None)`) from "bad bytes" (`Err`), and
//! checks the length against `jute.maxbuffer` before anything is buffered, as ZooKeeper's
//! `NIOServerCnxn.readLength` does ("Len error").

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is negative or above the limit.
    #[error("Len error {len}: frame length must be between 0 and jute.maxbuffer ({limit})")]
    BadLength { len: i32, limit: usize },
}

/// Looks for one complete frame at the start of `buf`. Returns the payload range length
/// (`4 + len` consumed) when complete, `Ok(None)` when more bytes are needed.
pub fn parse_frame(buf: &[u8], max_len: usize) -> Result<Option<(usize, &[u8])>, FrameError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if len < 0 || len as usize > max_len {
        return Err(FrameError::BadLength { len, limit: max_len });
    }
    let total = 4 + len as usize;
    match buf.get(4..total) {
        Some(payload) => Ok(Some((total, payload))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn incomplete_complete_and_oversized() {
        assert_eq!(parse_frame(&[0, 0], 10), Ok(None));
        assert_eq!(parse_frame(&[0, 0, 0, 3, 1, 2], 10), Ok(None));
        assert_eq!(parse_frame(&[0, 0, 0, 2, 1, 2, 9], 10), Ok(Some((6, &[1u8, 2][..]))));
        assert!(parse_frame(&[0, 0, 0, 11], 10).is_err());
        assert!(parse_frame(&[0xff, 0xff, 0xff, 0xff], 10).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_never_overreads(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..100) {
            if let Ok(Some((used, payload))) = parse_frame(&bytes, max) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(payload.len() + 4, used);
                prop_assert!(payload.len() <= max);
            }
        }
    }
}

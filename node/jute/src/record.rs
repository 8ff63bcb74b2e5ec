//! The [`Record`] trait and `jute_record!`, which declares a record as ZooKeeper's
//! `zookeeper.jute` does: fields in order, no tags, no lengths.
//!
//! Primitives map as: `i32` int, `i64` long, `bool` boolean, `String` ustring (null read as
//! ""), `Option<String>` nullable ustring, `Option<Vec<u8>>` buffer (null kept), `Vec<T>`
//! vector (null read as empty).

use crate::archive::{InputArchive, JuteError, OutputArchive};

/// A value with a jute encoding.
pub trait Record: Sized {
    fn write(&self, out: &mut OutputArchive);
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError>;

    /// Encodes into a fresh byte vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = OutputArchive::new();
        self.write(&mut out);
        out.into_inner()
    }

    /// Decodes from a whole slice; trailing bytes are allowed (ZooKeeper ignores them).
    fn from_bytes(bytes: &[u8], max_len: usize) -> Result<Self, JuteError> {
        Self::read(&mut InputArchive::new(bytes, max_len))
    }
}

impl Record for i32 {
    fn write(&self, out: &mut OutputArchive) {
        out.write_i32(*self)
    }
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        inp.read_i32()
    }
}

impl Record for i64 {
    fn write(&self, out: &mut OutputArchive) {
        out.write_i64(*self)
    }
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        inp.read_i64()
    }
}

impl Record for bool {
    fn write(&self, out: &mut OutputArchive) {
        out.write_bool(*self)
    }
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        inp.read_bool()
    }
}

impl Record for String {
    fn write(&self, out: &mut OutputArchive) {
        out.write_string(self)
    }
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        inp.read_string()
    }
}

impl Record for Option<String> {
    fn write(&self, out: &mut OutputArchive) {
        out.write_ustring(self.as_deref())
    }
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        inp.read_ustring()
    }
}

impl Record for Option<Vec<u8>> {
    fn write(&self, out: &mut OutputArchive) {
        out.write_buffer(self.as_deref())
    }
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        inp.read_buffer()
    }
}

impl<T: Record> Record for Vec<T> {
    fn write(&self, out: &mut OutputArchive) {
        out.write_i32(self.len() as i32);
        for v in self {
            v.write(out);
        }
    }
    fn read(inp: &mut InputArchive<'_>) -> Result<Self, JuteError> {
        // Every element takes at least one byte, so the count is bounded by the input.
        let Some(n) = inp.read_len(1)? else {
            return Ok(Vec::new());
        };
        let mut v = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            v.push(T::read(inp)?);
        }
        Ok(v)
    }
}

/// Declares a jute record: a struct with public fields and its [`Record`] impl.
#[macro_export]
macro_rules! jute_record {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name { $($(#[$fmeta])* pub $field: $ty),* }

        impl $crate::record::Record for $name {
            #[allow(unused_variables)]
            fn write(&self, out: &mut $crate::archive::OutputArchive) {
                $($crate::record::Record::write(&self.$field, out);)*
            }
            #[allow(unused_variables)]
            fn read(inp: &mut $crate::archive::InputArchive<'_>) -> Result<Self, $crate::archive::JuteError> {
                Ok($name { $($field: <$ty as $crate::record::Record>::read(inp)?),* })
            }
        }
    };
}

//! What a node's `ephemeralOwner` encodes (`EphemeralType`): nothing, a session, a
//! container (Long.MIN_VALUE) or, with extended types enabled, a TTL in the low bits.

pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
const RESERVED_BITS_MASK: u64 = 0x00ff_ff00_0000_0000;
const EXTENDED_FEATURE_VALUE_MASK: u64 = !(EXTENDED_MASK | RESERVED_BITS_MASK);
/// Largest TTL ZooKeeper accepts, in ms.
pub const MAX_TTL: i64 = EXTENDED_FEATURE_VALUE_MASK as i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EphemeralType {
    /// A plain persistent node.
    Void,
    /// An ephemeral node owned by a session.
    Normal,
    Container,
    Ttl,
}

impl EphemeralType {
    /// `EphemeralType.get`; `extended` is `zookeeper.extendedTypesEnabled`.
    pub fn of(owner: i64, extended: bool) -> EphemeralType {
        if extended && (owner as u64 & EXTENDED_MASK) == EXTENDED_MASK {
            // Only the TTL feature bit (0) exists; others are invalid and ZooKeeper throws.
            // Treat them as TTL so that nothing panics on odd data.
            return EphemeralType::Ttl;
        }
        if owner == CONTAINER_EPHEMERAL_OWNER {
            EphemeralType::Container
        } else if owner == 0 {
            EphemeralType::Void
        } else {
            EphemeralType::Normal
        }
    }
}

/// `EphemeralType.TTL.toEphemeralOwner`; `None` when ZooKeeper would refuse the TTL.
pub fn ttl_owner(ttl: i64) -> Option<i64> {
    if ttl <= 0 || ttl > MAX_TTL {
        return None;
    }
    Some((EXTENDED_MASK | ttl as u64) as i64)
}

/// The TTL in ms stored in a TTL node's ephemeralOwner.
pub fn ttl_value(owner: i64) -> i64 {
    (owner as u64 & EXTENDED_FEATURE_VALUE_MASK) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_encoding() {
        let o = ttl_owner(5000).unwrap();
        assert_eq!(o as u64, 0xff00_0000_0000_1388);
        assert_eq!(EphemeralType::of(o, true), EphemeralType::Ttl);
        assert_eq!(EphemeralType::of(o, false), EphemeralType::Normal);
        assert_eq!(ttl_value(o), 5000);
        assert!(ttl_owner(0).is_none());
        assert!(ttl_owner(MAX_TTL + 1).is_none());
        assert_eq!(EphemeralType::of(i64::MIN, true), EphemeralType::Container);
    }
}

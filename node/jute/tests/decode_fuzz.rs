//! Arbitrary bytes into every decoder: never a panic, never an allocation the input cannot
//! justify, and whatever decodes re-encodes to a prefix of the input.

// Test code: a failed unwrap/expect is a failed test (the workspace denies them elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use zab_jute::proto::*;
use zab_jute::record::Record;
use zab_jute::txn::{MultiTxn, Txn, TxnHeader};

fn roundtrip_prefix<R: Record + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = R::from_bytes(bytes, 1 << 16) {
        let again = r.to_bytes();
        let back = R::from_bytes(&again, 1 << 16).expect("re-encoded bytes decode");
        prop_assert_eq!(back, r);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn client_records(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        roundtrip_prefix::<RequestHeader>(&bytes)?;
        roundtrip_prefix::<ReplyHeader>(&bytes)?;
        roundtrip_prefix::<CreateRequest>(&bytes)?;
        roundtrip_prefix::<CreateTtlRequest>(&bytes)?;
        roundtrip_prefix::<SetDataRequest>(&bytes)?;
        roundtrip_prefix::<SetAclRequest>(&bytes)?;
        roundtrip_prefix::<SetWatches2>(&bytes)?;
        roundtrip_prefix::<AuthPacket>(&bytes)?;
        roundtrip_prefix::<GetAclResponse>(&bytes)?;
        roundtrip_prefix::<MultiResponse>(&bytes)?;
        let _ = MultiRequest::from_bytes(&bytes, 1 << 16);
        let _ = ConnectRequest::from_bytes(&bytes, 1 << 16);
    }

    #[test]
    fn txn_records(bytes in proptest::collection::vec(any::<u8>(), 0..300), t in -12i32..25) {
        let mut inp = zab_jute::InputArchive::new(&bytes, 1 << 16);
        if let Ok(h) = TxnHeader::read(&mut inp) {
            let _ = Txn::read(h.txn_type, &mut inp);
        }
        let mut inp = zab_jute::InputArchive::new(&bytes, 1 << 16);
        let _ = Txn::read(t, &mut inp);
        let _ = MultiTxn::from_bytes(&bytes, 1 << 16);
    }

    #[test]
    fn length_prefixes_never_overallocate(n in any::<i32>(), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut bytes = n.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        // A vector count far beyond the input is refused before allocating.
        let r = Vec::<String>::from_bytes(&bytes, usize::MAX);
        if n > tail.len() as i32 {
            prop_assert!(r.is_err());
        }
    }
}

//! Property tests for the record decoder, the parser of untrusted stored
//! bytes: it must never panic, must accept what the encoder writes, and must
//! reject every single-bit flip and every truncation of a valid record.

use proptest::prelude::*;
use storage::{RecordKind, Seq, decode_record, encode_record};

fn any_kind() -> impl Strategy<Value = RecordKind> {
    prop_oneof![
        Just(RecordKind::Update),
        Just(RecordKind::Snapshot),
        Just(RecordKind::DocumentEntry),
        Just(RecordKind::VersionEntry),
        Just(RecordKind::VersionSnapshot),
    ]
}

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_record(&bytes);
    }

    #[test]
    fn decode_never_panics_on_a_plausible_header(
        tail in proptest::collection::vec(any::<u8>(), 0..64),
        kind in any::<u8>(),
        length in any::<u32>(),
    ) {
        // Version 1 headers get past the first check, exercising the rest.
        let mut bytes = vec![1, kind];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&tail);
        let _ = decode_record(&bytes);
    }

    #[test]
    fn encoded_records_round_trip(
        kind in any_kind(),
        seq in any::<u64>(),
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let bytes = encode_record(kind, Seq(seq), &payload).unwrap();
        let record = decode_record(&bytes).unwrap();
        prop_assert_eq!(record.kind, kind);
        prop_assert_eq!(record.seq, Seq(seq));
        prop_assert_eq!(record.payload, &payload[..]);
    }

    #[test]
    fn every_single_bit_flip_is_rejected(
        kind in any_kind(),
        seq in any::<u64>(),
        payload in proptest::collection::vec(any::<u8>(), 0..128),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_record(kind, Seq(seq), &payload).unwrap();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(decode_record(&bytes).is_err());
    }

    #[test]
    fn every_truncation_is_rejected(
        payload in proptest::collection::vec(any::<u8>(), 0..128),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode_record(RecordKind::Update, Seq(1), &payload).unwrap();
        let length = cut.index(bytes.len());
        prop_assert!(decode_record(&bytes[..length]).is_err());
    }
}

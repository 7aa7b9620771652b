//! `storage::decode_record` on arbitrary bytes: the parser of untrusted stored bytes must return a
//! record or a `RecordError`, never panic, and a record it accepts must re-encode to its input.

#![no_main]

#[path = "shared/mod.rs"]
mod shared;

use libfuzzer_sys::fuzz_target;
use storage::{decode_record, encode_record};

fuzz_target!(|data: &[u8]| {
    shared::run(|| {
        if let Ok(record) = decode_record(data) {
            let encoded = encode_record(record.kind, record.seq, record.payload)
                .expect("a decoded record re-encodes");
            assert_eq!(
                encoded, data,
                "decode_record accepted a non-canonical encoding"
            );
        }
    });
});

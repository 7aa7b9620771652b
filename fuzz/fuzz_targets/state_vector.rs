//! `crdt_core::untrusted::decode_state_vector` on arbitrary bytes, as a SyncStep1 or a `?since=`
//! query carries them. It must refuse, not allocate, what claims more entries than it holds
//! (issue #22); a state vector it accepts must come back unchanged through yrs's encoder and
//! decoder, and be accepted again in that encoding. The allocation limit (`shared`) is what
//! turns a bomb into a crash here.

#![no_main]

#[path = "shared/mod.rs"]
mod shared;

use crdt_core::untrusted::{check_state_vector, decode_state_vector};
use libfuzzer_sys::fuzz_target;
use yrs::StateVector;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

fuzz_target!(|data: &[u8]| {
    shared::run(|| {
        let walked = check_state_vector(data);
        let state = match decode_state_vector(data) {
            Ok(state) => state,
            Err(error) => {
                // The walk exists to mirror yrs's decoder; passing it and then failing in yrs
                // means the two disagree on what the bytes are.
                assert!(
                    walked.is_err(),
                    "the walk passed a state vector yrs then refused: {error}"
                );
                return;
            }
        };
        let encoded = state.encode_v1();
        let decoded = StateVector::decode_v1(&encoded).expect("yrs decodes its own encoding");
        assert_eq!(decoded, state, "the state vector changed through yrs");
        let again = decode_state_vector(&encoded).expect("yrs's encoding of it is accepted");
        assert_eq!(
            again, state,
            "the re-encoded state vector decodes differently"
        );
    });
});

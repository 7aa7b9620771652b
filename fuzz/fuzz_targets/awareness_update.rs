//! `crdt_core::untrusted::decode_awareness_update` on arbitrary bytes, with a small state limit
//! so the fuzzer reaches it. Every state it accepts must be JSON as `JSON.parse` takes it (the
//! y-protocols clients it is relayed to throw otherwise), checked by a grammar independent of
//! the serde_json crdt_core uses, and no larger than the limit; the accepted update must survive
//! yrs's encoder and be accepted again.

#![no_main]

#[path = "shared/mod.rs"]
mod shared;

#[path = "oracles/json_grammar.rs"]
mod json_grammar;

use crdt_core::untrusted::{MAX_CLIENT_ID, check_awareness_update, decode_awareness_update};
use libfuzzer_sys::fuzz_target;
use yrs::updates::encoder::Encode;

/// Small enough that mutated inputs cross it often.
const MAX_STATE_BYTES: usize = 64;

fuzz_target!(|data: &[u8]| {
    shared::run(|| {
        let walked = check_awareness_update(data, MAX_STATE_BYTES);
        let update = match decode_awareness_update(data, MAX_STATE_BYTES) {
            Ok(update) => update,
            Err(error) => {
                assert!(
                    walked.is_err(),
                    "the check passed an awareness update yrs then refused: {error}"
                );
                return;
            }
        };
        for (client, entry) in &update.clients {
            assert!(
                client.get() <= MAX_CLIENT_ID,
                "client {client} over 53 bits"
            );
            assert!(
                entry.json.len() <= MAX_STATE_BYTES,
                "client {client}'s state of {} bytes passed the {MAX_STATE_BYTES}-byte limit",
                entry.json.len()
            );
            assert!(
                json_grammar::is_json(&entry.json),
                "client {client}'s state is not JSON: {:?}",
                entry.json
            );
        }
        let encoded = update.encode_v1();
        let again = decode_awareness_update(&encoded, MAX_STATE_BYTES)
            .expect("yrs's encoding of an accepted update is accepted");
        assert_eq!(again, update, "the re-encoded update decodes differently");
    });
});

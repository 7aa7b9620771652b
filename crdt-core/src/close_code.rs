//! The WebSocket close codes Quire sends, what each means, and which are final for a client.
//! Documented in `docs/protocol.md`; defined here, in the protocol crate, so that the server
//! that sends them and the Rust client that acts on them cannot drift apart.
//!
//! Standard codes where one fits; 4xxx codes otherwise, chosen so y-websocket's provider (which
//! reconnects after any close) resyncs, and codes in its final range (4400-4499) where
//! reconnecting could only get the same answer.

/// The server is shutting down; reconnect later.
pub const GOING_AWAY: u16 = 1001;
/// The WebSocket framing itself was broken (unmasked frame, bad opcode...).
pub const PROTOCOL_ERROR: u16 = 1002;
/// A frame was not a y-protocols message (or was text); the reason names the problem.
pub const MALFORMED: u16 = 1007;
/// A message was larger than `--max-message-bytes`.
pub const TOO_BIG: u16 = 1009;
/// An internal error ended the connection (for example its room stopped unexpectedly).
pub const INTERNAL_ERROR: u16 = 1011;
/// The client fell more than `--client-queue-frames` frames behind; reconnect to resync.
pub const SLOW_CONSUMER: u16 = 4000;
/// The client did not answer keepalive pings.
pub const KEEPALIVE_TIMEOUT: u16 = 4008;
/// The client sent messages faster than `--max-messages-per-second` allows.
pub const RATE_LIMITED: u16 = 4429;
/// An update would have grown the document past `--max-document-bytes`; it was not applied.
/// Final for y-websocket (4400-4499): resending the same update would be refused again.
pub const DOCUMENT_TOO_LARGE: u16 = 4413;
/// The server holds as many documents in memory as `--max-rooms` allows; try again later.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// The server's storage takes no writes now (low on space, or failed): the frame's edit was not
/// applied. Not final: a provider keeps its edits and sends them again when it reconnects, and
/// they are taken once storage recovers (`/readyz` says when).
pub const STORAGE_UNAVAILABLE: u16 = 4503;
/// The document was deleted. In y-websocket's final range (4400-4499): reconnecting would only
/// create an empty document of the same name.
pub const DOCUMENT_DELETED: u16 = 4410;

/// Whether a client should stop rather than reconnect after a close with `code`: the same
/// client would get the same answer (a protocol error, a message the server refuses, a deleted
/// or full document, y-websocket's final range). A rate-limited client slows down and retries.
pub fn is_final(code: u16) -> bool {
    match code {
        // Protocol error, unsupported data, invalid payload, policy violation, too big,
        // missing extension.
        PROTOCOL_ERROR | 1003 | MALFORMED | 1008 | TOO_BIG | 1010 => true,
        RATE_LIMITED => false,
        4400..=4499 => true,
        _ => false,
    }
}

/// Caps a close reason at the 123 bytes a close frame can carry, on a character boundary.
pub fn truncate_reason(reason: &str) -> String {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason.to_owned();
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_quire_sends_is_classified_as_documented() {
        let retried = [
            1000,
            GOING_AWAY,
            1005,
            1006,
            INTERNAL_ERROR,
            TRY_AGAIN_LATER,
            SLOW_CONSUMER,
            KEEPALIVE_TIMEOUT,
            RATE_LIMITED,
        ];
        for code in retried {
            assert!(!is_final(code), "{code} should be retried");
        }
        let final_codes = [
            PROTOCOL_ERROR,
            MALFORMED,
            TOO_BIG,
            4401,
            4403,
            DOCUMENT_DELETED,
            DOCUMENT_TOO_LARGE,
        ];
        for code in final_codes {
            assert!(is_final(code), "{code} should be final");
        }
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let reason = "é".repeat(100);
        let cut = truncate_reason(&reason);
        assert!(cut.len() <= 123);
        assert!(reason.starts_with(&cut));
        assert_eq!(truncate_reason("short"), "short");
    }
}

//! WebSocket close codes Quire sends, and why. Documented in `docs/protocol.md`.
//!
//! Standard codes where one fits; 4xxx codes otherwise, chosen so y-websocket's provider (which
//! reconnects after any close) resyncs.

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
/// The document was deleted. In y-websocket's final range (4400-4499): reconnecting would only
/// create an empty document of the same name.
pub const DOCUMENT_DELETED: u16 = 4410;

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
    use super::truncate_reason;

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let reason = "é".repeat(100);
        let cut = truncate_reason(&reason);
        assert!(cut.len() <= 123);
        assert!(reason.starts_with(&cut));
        assert_eq!(truncate_reason("short"), "short");
    }
}

//! Agreeing on permessage-deflate in the opening handshake (RFC 7692 section 5).
//!
//! A client lists offers, best first, in one or more `Sec-WebSocket-Extensions` headers. The
//! server takes the first offer of permessage-deflate it can honour and answers with the
//! parameters in force; an offer it cannot honour is declined, and with none left the connection
//! goes on uncompressed, which every client must accept.
//!
//! Quire's answer is always the same, so the only question is whether an offer allows it:
//! - `server_no_context_takeover`: each message the server compresses stands alone, so one
//!   compressed form serves every connection (see [`crate::shared`]).
//! - `client_no_context_takeover`: each message a client compresses stands alone too, so a
//!   connection keeps no 32 KiB inflate window between messages; one per thread serves all.
//!   A server may add this even when the client did not offer it (RFC 7692 section 7.1.1.2).
//! - An offer limiting the server's window (`server_max_window_bits` below 15) is declined: the
//!   compressor always uses the whole 32 KiB window.

/// The value a client sends to offer what a server that agrees answers with (used by Quire's
/// own clients, such as the load generator).
pub const CLIENT_OFFER: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits";

/// The answer for an accepted offer.
const RESPONSE: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
/// The answer for an accepted offer that named the server's window, which the answer must repeat
/// to accept it (RFC 7692 section 7.1.2.1).
const RESPONSE_WITH_WINDOW: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15";

/// An accepted offer of permessage-deflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// The offer named `server_max_window_bits` (15, the only size accepted).
    names_server_window: bool,
}

impl Agreement {
    /// The `Sec-WebSocket-Extensions` value the server answers with.
    pub fn response_value(&self) -> &'static str {
        if self.names_server_window {
            RESPONSE_WITH_WINDOW
        } else {
            RESPONSE
        }
    }
}

/// The agreement for the first acceptable permessage-deflate offer among `headers` (the values
/// of every `Sec-WebSocket-Extensions` header of the request, in order), if there is one.
pub fn negotiate<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Agreement> {
    headers
        .into_iter()
        .flat_map(|header| header.split(','))
        .find_map(acceptable)
}

/// The agreement for `offer` (one extension with its parameters), if it is permessage-deflate
/// with parameters Quire's fixed answer honours, each at most once and well formed.
fn acceptable(offer: &str) -> Option<Agreement> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|name| name.eq_ignore_ascii_case("permessage-deflate"))
    {
        return None;
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut agreement = Agreement {
        names_server_window: false,
    };
    for parameter in parts {
        let (name, value) = match parameter.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
            None => (parameter, None),
        };
        if seen
            .iter()
            .any(|earlier| earlier.eq_ignore_ascii_case(name))
        {
            return None;
        }
        seen.push(name);
        let allowed = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" => value.is_none(),
            "client_max_window_bits" => value.is_none_or(|bits| window_bits(bits).is_some()),
            "server_max_window_bits" => {
                agreement.names_server_window = true;
                value.and_then(window_bits) == Some(15)
            }
            _ => false,
        };
        if !allowed {
            return None;
        }
    }
    Some(agreement)
}

/// A window size in bits, which RFC 7692 allows from 8 to 15, written as digits without leading
/// zeros.
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u8>()
        .ok()
        .filter(|bits| (8..=15).contains(bits))
}

/// A parameter's value without the quotes of a quoted-string.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agrees(headers: &[&str]) -> bool {
        negotiate(headers.iter().copied()).is_some()
    }

    #[test]
    fn what_browsers_and_node_ws_offer_is_accepted() {
        assert!(agrees(&["permessage-deflate; client_max_window_bits"]));
        assert!(agrees(&["permessage-deflate"]));
        assert!(agrees(&[CLIENT_OFFER]));
        assert!(agrees(&["Permessage-Deflate; Client_Max_Window_Bits=10"]));
        assert!(agrees(&[
            "permessage-deflate; server_max_window_bits=\"15\""
        ]));
    }

    #[test]
    fn no_offer_or_another_extension_is_no_agreement() {
        assert!(!agrees(&[]));
        assert!(!agrees(&[""]));
        assert!(!agrees(&["x-webkit-deflate-frame"]));
        assert!(!agrees(&["permessage-deflate-ish"]));
    }

    #[test]
    fn an_offer_the_answer_cannot_honour_is_declined() {
        assert!(!agrees(&["permessage-deflate; server_max_window_bits=10"]));
        assert!(!agrees(&["permessage-deflate; server_max_window_bits"]));
        assert!(!agrees(&["permessage-deflate; client_max_window_bits=16"]));
        assert!(!agrees(&["permessage-deflate; client_max_window_bits=010"]));
        assert!(!agrees(&["permessage-deflate; client_max_window_bits=+9"]));
        assert!(!agrees(&[
            "permessage-deflate; client_no_context_takeover=1"
        ]));
        assert!(!agrees(&["permessage-deflate; something_else"]));
        assert!(!agrees(&[
            "permessage-deflate; client_max_window_bits; client_max_window_bits"
        ]));
    }

    #[test]
    fn a_later_acceptable_offer_is_taken_when_an_earlier_one_is_declined() {
        assert!(agrees(&[
            "permessage-deflate; server_max_window_bits=10, permessage-deflate"
        ]));
        assert!(agrees(&[
            "permessage-deflate; server_max_window_bits=9",
            "x-other, permessage-deflate; client_max_window_bits"
        ]));
    }

    #[test]
    fn an_offer_naming_the_server_window_is_answered_with_it() {
        let offer = "permessage-deflate; server_max_window_bits=15";
        let value = negotiate([offer]).unwrap().response_value();
        assert!(value.ends_with("server_max_window_bits=15"), "{value}");
        let plain = negotiate(["permessage-deflate"]).unwrap().response_value();
        assert!(!plain.contains("server_max_window_bits"));
    }

    #[test]
    fn the_answer_keeps_no_context_on_either_side() {
        let value = negotiate(["permessage-deflate"]).unwrap().response_value();
        assert!(value.starts_with("permessage-deflate"));
        assert!(value.contains("server_no_context_takeover"));
        assert!(value.contains("client_no_context_takeover"));
        assert!(agrees(&[value]), "the answer is itself an acceptable offer");
    }
}

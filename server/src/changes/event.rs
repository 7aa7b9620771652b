//! The events of the change feed, as stored and as sent.
//!
//! The store keeps an event's body without its id: the id is the event's sequence in the change
//! log, known only once it is appended. Webhook bodies and SSE `data:` lines are the body with
//! the id first, serialized the same way every time, so a redelivered event is byte-identical
//! (and so is its signature).

use std::time::SystemTime;

use base64::Engine;
use serde::{Deserialize, Serialize};
use storage::StoredEvent;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum EventType {
    /// Updates to the document became durable (one event per debounce window).
    #[serde(rename = "document.updated")]
    DocumentUpdated,
    /// The document was stored for the first time.
    #[serde(rename = "document.created")]
    DocumentCreated,
    /// The document was deleted.
    #[serde(rename = "document.deleted")]
    DocumentDeleted,
    /// A named version of the document was kept.
    #[serde(rename = "version.created")]
    VersionCreated,
}

impl EventType {
    /// The name on the wire (`document.updated`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            EventType::DocumentUpdated => "document.updated",
            EventType::DocumentCreated => "document.created",
            EventType::DocumentDeleted => "document.deleted",
            EventType::VersionCreated => "version.created",
        }
    }
}

/// An event without its id: what the change log stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventBody {
    #[serde(rename = "type")]
    pub(crate) kind: EventType,
    pub(crate) document: String,
    /// When the event was recorded, RFC 3339 in UTC with milliseconds.
    pub(crate) time: String,
    /// Base64 of the document's Yjs v1 state vector after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state_vector: Option<String>,
    /// The version created (`version.created` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version_id: Option<String>,
}

impl EventBody {
    /// An event of `kind` about `document`, happening now.
    pub(crate) fn new(kind: EventType, document: &str, state_vector: Option<&[u8]>) -> Self {
        EventBody {
            kind,
            document: document.to_owned(),
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            state_vector: state_vector
                .map(|vector| base64::engine::general_purpose::STANDARD.encode(vector)),
            version_id: None,
        }
    }

    /// The bytes the change log keeps.
    pub(crate) fn to_stored(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event body always serializes")
    }
}

/// An event with its id, as consumers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// Its sequence in the change log: the id, and the cursor after it.
    pub(crate) sequence: u64,
    pub(crate) body: EventBody,
}

#[derive(Serialize)]
struct WireEvent<'a> {
    id: String,
    #[serde(flatten)]
    body: &'a EventBody,
}

impl Event {
    /// The stored event, or why its bytes are not an event.
    pub(crate) fn from_stored(stored: &StoredEvent) -> Result<Self, serde_json::Error> {
        Ok(Event {
            sequence: stored.sequence,
            body: serde_json::from_slice(&stored.payload)?,
        })
    }

    /// The event's JSON: the webhook body and the SSE data.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(&WireEvent {
            id: self.sequence.to_string(),
            body: &self.body,
        })
        .expect("an event always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_sent_with_its_id_first_and_the_state_vector_in_base64() {
        let mut body = EventBody::new(EventType::DocumentUpdated, "notes/a", Some(&[1, 2, 3]));
        body.time = "2026-12-07T12:00:00.000Z".to_owned();
        let stored = StoredEvent {
            sequence: 42,
            payload: body.to_stored(),
        };
        let event = Event::from_stored(&stored).unwrap();
        assert_eq!(
            event.to_json(),
            r#"{"id":"42","type":"document.updated","document":"notes/a","time":"2026-12-07T12:00:00.000Z","state_vector":"AQID"}"#
        );
    }

    #[test]
    fn a_version_event_names_its_version_and_a_deletion_has_no_state() {
        let mut version = EventBody::new(EventType::VersionCreated, "d", Some(&[0]));
        version.version_id = Some("3".to_owned());
        let json = Event {
            sequence: 1,
            body: version,
        }
        .to_json();
        assert!(json.contains(r#""type":"version.created""#), "{json}");
        assert!(json.contains(r#""version_id":"3""#), "{json}");
        let deleted = Event {
            sequence: 2,
            body: EventBody::new(EventType::DocumentDeleted, "d", None),
        }
        .to_json();
        assert!(!deleted.contains("state_vector"), "{deleted}");
        assert!(
            deleted.ends_with('Z') || deleted.contains("Z\""),
            "{deleted}"
        );
    }

    #[test]
    fn damaged_stored_bytes_are_an_error_not_a_panic() {
        let stored = StoredEvent {
            sequence: 1,
            payload: b"{not json".to_vec(),
        };
        assert!(Event::from_stored(&stored).is_err());
    }
}

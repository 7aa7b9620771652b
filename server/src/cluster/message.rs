//! What one node tells the others about a document, as published on the document's channel.
//!
//! A message is small and self-describing: a version byte, a kind byte, the sending node's id
//! (so a node skips its own messages, and knows whose clients an awareness state belongs to),
//! then the kind's fields. Updates carry the seqs the store gave them: a receiver that sees a seq
//! beyond the next one it expects knows it missed something and reads it from the store, which
//! holds every update before any node publishes it. Decoding trusts nothing: every length is
//! checked against the bytes actually received, and an unknown version or kind is an error, not
//! a guess.

use bytes::{BufMut, Bytes, BytesMut};
use storage::Seq;
use uuid::Uuid;

/// The layout version written first in every message.
const VERSION: u8 = 1;

/// Where a message's body starts: version, kind, node id.
const HEADER_BYTES: usize = 2 + 16;

/// Identifies one running node; new at every start, so a restarted node is a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub Uuid);

impl NodeId {
    /// A fresh random id.
    pub fn random() -> Self {
        NodeId(Uuid::new_v4())
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(formatter)
    }
}

/// One message about one document: who sent it, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMessage {
    /// The node that published it.
    pub from: NodeId,
    /// What it says.
    pub body: Announcement,
}

/// What a node tells the others about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// Updates `first..=last` are durable in the store; `update` is all of them merged.
    Update {
        first: Seq,
        last: Seq,
        update: Bytes,
    },
    /// An awareness frame (a y-protocols awareness message) of the sender's clients.
    Awareness { frame: Bytes },
    /// The sender just opened the document: others answer with their clients' awareness.
    AwarenessQuery,
    /// The highest seq of the document the sender holds, after it was cut off from the others:
    /// a receiver behind it reads what it missed from the store.
    HighWater { last: Seq },
    /// The sender deleted the document from the store: receivers close its clients.
    Deleted,
}

/// Why a received message was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Shorter than its header or its fields.
    #[error("truncated cluster message ({0} bytes)")]
    Truncated(usize),
    /// Written by a layout this build does not read.
    #[error("cluster message of unknown version {0}")]
    UnknownVersion(u8),
    /// A kind this build does not know.
    #[error("cluster message of unknown kind {0}")]
    UnknownKind(u8),
    /// An update whose seqs run backwards or start at zero.
    #[error("cluster update with impossible seqs {first}..={last}")]
    ImpossibleSeqs { first: u64, last: u64 },
}

const UPDATE: u8 = 1;
const AWARENESS: u8 = 2;
const AWARENESS_QUERY: u8 = 3;
const HIGH_WATER: u8 = 4;
const DELETED: u8 = 5;

impl ClusterMessage {
    /// The message as published.
    pub fn encode(&self) -> Bytes {
        let (kind, body_bytes) = match &self.body {
            Announcement::Update { update, .. } => (UPDATE, 16 + update.len()),
            Announcement::Awareness { frame } => (AWARENESS, frame.len()),
            Announcement::AwarenessQuery => (AWARENESS_QUERY, 0),
            Announcement::HighWater { .. } => (HIGH_WATER, 8),
            Announcement::Deleted => (DELETED, 0),
        };
        let mut out = BytesMut::with_capacity(HEADER_BYTES + body_bytes);
        out.put_u8(VERSION);
        out.put_u8(kind);
        out.put_slice(self.from.0.as_bytes());
        match &self.body {
            Announcement::Update {
                first,
                last,
                update,
            } => {
                out.put_u64(first.0);
                out.put_u64(last.0);
                out.put_slice(update);
            }
            Announcement::Awareness { frame } => out.put_slice(frame),
            Announcement::AwarenessQuery | Announcement::Deleted => {}
            Announcement::HighWater { last } => out.put_u64(last.0),
        }
        out.freeze()
    }

    /// Reads a message as received.
    pub fn decode(bytes: &Bytes) -> Result<Self, MessageError> {
        let truncated = || MessageError::Truncated(bytes.len());
        let header = bytes.get(..HEADER_BYTES).ok_or_else(truncated)?;
        if header[0] != VERSION {
            return Err(MessageError::UnknownVersion(header[0]));
        }
        let node: [u8; 16] = header[2..].try_into().map_err(|_| truncated())?;
        let from = NodeId(Uuid::from_bytes(node));
        let body = bytes.slice(HEADER_BYTES..);
        let seq_at = |offset: usize| -> Result<u64, MessageError> {
            let field = body.get(offset..offset + 8).ok_or_else(truncated)?;
            Ok(u64::from_be_bytes(
                field.try_into().map_err(|_| truncated())?,
            ))
        };
        let body = match header[1] {
            UPDATE => {
                let (first, last) = (seq_at(0)?, seq_at(8)?);
                if first == 0 || first > last {
                    return Err(MessageError::ImpossibleSeqs { first, last });
                }
                Announcement::Update {
                    first: Seq(first),
                    last: Seq(last),
                    update: body.slice(16..),
                }
            }
            AWARENESS => Announcement::Awareness { frame: body },
            AWARENESS_QUERY => Announcement::AwarenessQuery,
            HIGH_WATER => Announcement::HighWater {
                last: Seq(seq_at(0)?),
            },
            DELETED => Announcement::Deleted,
            kind => return Err(MessageError::UnknownKind(kind)),
        };
        Ok(ClusterMessage { from, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn examples() -> Vec<ClusterMessage> {
        let from = NodeId::random();
        [
            Announcement::Update {
                first: Seq(3),
                last: Seq(5),
                update: Bytes::from_static(b"\x01\x02\x03"),
            },
            Announcement::Awareness {
                frame: Bytes::from_static(b"\x01\x00"),
            },
            Announcement::AwarenessQuery,
            Announcement::HighWater { last: Seq(42) },
            Announcement::Deleted,
        ]
        .into_iter()
        .map(|body| ClusterMessage { from, body })
        .collect()
    }

    #[test]
    fn every_kind_round_trips() {
        for message in examples() {
            assert_eq!(ClusterMessage::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        for message in examples() {
            let encoded = message.encode();
            let whole = match message.body {
                // The payloads may be cut anywhere: they are opaque here, checked by the room.
                Announcement::Update { .. } => HEADER_BYTES + 16,
                Announcement::Awareness { .. } => HEADER_BYTES,
                _ => encoded.len(),
            };
            for length in 0..whole {
                assert_eq!(
                    ClusterMessage::decode(&encoded.slice(..length)),
                    Err(MessageError::Truncated(length)),
                    "{message:?} cut at {length}"
                );
            }
        }
    }

    #[test]
    fn unknown_versions_kinds_and_seqs_are_refused() {
        let mut encoded = examples()[0].encode().to_vec();
        encoded[0] = 9;
        assert_eq!(
            ClusterMessage::decode(&Bytes::from(encoded.clone())),
            Err(MessageError::UnknownVersion(9))
        );
        encoded[0] = VERSION;
        encoded[1] = 77;
        assert_eq!(
            ClusterMessage::decode(&Bytes::from(encoded)),
            Err(MessageError::UnknownKind(77))
        );
        let backwards = ClusterMessage {
            from: NodeId::random(),
            body: Announcement::Update {
                first: Seq(5),
                last: Seq(3),
                update: Bytes::new(),
            },
        };
        assert_eq!(
            ClusterMessage::decode(&backwards.encode()),
            Err(MessageError::ImpossibleSeqs { first: 5, last: 3 })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ClusterMessage::decode(&Bytes::from(bytes));
        }
    }
}

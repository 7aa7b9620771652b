//! The room among other nodes sharing its document (`--cluster`).
//!
//! What this room makes durable it publishes, one message per stored update with its seq. What
//! others publish it applies and sends to its clients, never storing it again (the publisher's
//! store holds it). The seqs tell it when it missed something (see `applied_seqs`): then, and
//! whenever the link says it may have (after an outage), it reads the store and applies what is
//! newer than what it holds. The rules:
//! - a publication leaves only once its update is durable (it goes out with the persist's
//!   receipt, never before);
//! - a seq heard twice is applied once; a seq beyond a hole makes the room read the store;
//! - a compaction covers only seqs the room's document holds without a hole (`DocumentLog`);
//! - a sleeping room (no document in memory) sends what arrives straight to its clients; it
//!   holds no awareness, so awareness wakes it;
//! - a peer found dead takes its clients' awareness states with it;
//! - a document another node deleted closes this room's clients (4410) and ends the room.

use std::time::{Duration, Instant};

use bytes::Bytes;
use crdt_core::PeerId;
use crdt_core::wire::encode_update_frame;
use storage::{LoadedDoc, Seq};
use tracing::warn;

use super::super::command::{CloseReason, RoomCommand};
use super::super::effect::{BatchId, Effect};
use super::{Persisting, Phase, RoomOwner};
use crate::close_code;
use crate::cluster::{Announcement, ClusterMessage, NodeId, PeerEvent};
use crate::telemetry;

/// How long a hole in the seqs may stay before the room reads the store for it: the message
/// filling it is usually on its way (another node's receipt and publication race this room's).
pub(crate) const HOLE_GRACE: Duration = Duration::from_millis(500);

/// Whether the room is reading the store for what it missed.
#[derive(Debug, Default)]
pub(super) struct CatchUp {
    in_flight: bool,
    /// More was missed while a read was in flight: read again after it.
    again: bool,
    /// A hole was seen: read the store at this time if it is still there.
    due: Option<Instant>,
    /// What the room held when the read in flight was asked for. Everything it held then was
    /// durable in the store, so a read that finds less means the document was deleted; what the
    /// room learned after asking (its own appends, others' messages) the read may not show.
    held_when_asked: Seq,
}

impl CatchUp {
    pub(super) fn is_in_flight(&self) -> bool {
        self.in_flight
    }

    /// When the room must check a hole, if one waits.
    pub(super) fn due(&self) -> Option<Instant> {
        self.due
    }
}

/// A node's id as the room's peers are numbered.
fn peer_of(node: NodeId) -> PeerId {
    PeerId(node.0.as_u128())
}

impl RoomOwner {
    /// Keeps what persist `batch` appends: its count for the receipt's seqs, and with a cluster
    /// its updates, to publish once durable.
    pub(super) fn track_persist(&mut self, batch: BatchId, updates: Vec<Bytes>) {
        let count = updates.len();
        let updates = if self.settings.clustered {
            updates
        } else {
            Vec::new()
        };
        self.persisting.push_back(Persisting {
            batch,
            count,
            updates,
        });
    }

    /// `updates` are durable as seqs `first`, `first + 1`, ...: the other nodes are told.
    pub(super) fn publish_appended(&mut self, first: Seq, updates: Vec<Bytes>) {
        for (offset, update) in updates.into_iter().enumerate() {
            let seq = Seq(first.0 + offset as u64);
            self.pipeline
                .push_now(Effect::Publish(Announcement::Update {
                    first: seq,
                    last: seq,
                    update,
                }));
        }
    }

    /// Something from the other nodes.
    pub(crate) fn handle_peer(&mut self, event: PeerEvent, now: Instant) {
        match &self.phase {
            Phase::Loading { resuming } => {
                // Clients of a room waking from sleep are sent nothing by the load (they are
                // synced); what arrives meanwhile goes to them now, and is applied after it.
                if resuming.is_some()
                    && let PeerEvent::Message(ClusterMessage {
                        body: Announcement::Update { update, .. },
                        ..
                    }) = &event
                {
                    self.pipeline.push([Effect::Broadcast {
                        except: None,
                        frame: encode_update_frame(update),
                    }]);
                }
                return self.stash.push_back(RoomCommand::Peer(event));
            }
            // Deleted here meanwhile, or retired: what is owed is finished without peers.
            Phase::Deleting | Phase::Stopped(_) => return,
            Phase::Awake(_) | Phase::Asleep(_) => {}
        }
        match event {
            PeerEvent::Message(ClusterMessage { from, body }) => match body {
                Announcement::Update {
                    first,
                    last,
                    update,
                } => self.apply_peer_update(first, last, &update, now),
                Announcement::HighWater { last } => {
                    if last > self.log.highest() {
                        self.catch_up();
                    }
                }
                Announcement::Awareness { frame } => {
                    if let Phase::Asleep(_) = self.phase {
                        // Awareness lives only in a loaded room: wake it, then apply.
                        let event = PeerEvent::Message(ClusterMessage {
                            from,
                            body: Announcement::Awareness { frame },
                        });
                        self.wake_for(RoomCommand::Peer(event));
                        return;
                    }
                    if let Phase::Awake(room) = &mut self.phase
                        && let Err(error) = room.handle_peer_awareness(peer_of(from), &frame)
                    {
                        warn!(room = %self.name, %error, "ignoring a peer's awareness");
                    }
                    self.collect_outgoing(None);
                }
                Announcement::AwarenessQuery => self.announce_awareness(),
                Announcement::Deleted => self.end_deleted_elsewhere(),
            },
            PeerEvent::NodeGone(node) => {
                if let Phase::Awake(room) = &mut self.phase {
                    room.handle_peer_gone(peer_of(node));
                    self.collect_outgoing(None);
                }
                // It may have died between its commit and its publication.
                self.catch_up();
            }
            PeerEvent::Resync => {
                self.catch_up();
                self.pipeline
                    .push_now(Effect::Publish(Announcement::HighWater {
                        last: self.log.highest(),
                    }));
                if let Phase::Awake(_) = self.phase {
                    self.pipeline
                        .push_now(Effect::Publish(Announcement::AwarenessQuery));
                    self.announce_awareness();
                }
            }
        }
        self.handle_batch_end(now);
    }

    /// The document was loaded for the first time with a cluster: ask the others who is there,
    /// and tell them who is here.
    pub(super) fn greet_peers(&mut self) {
        if self.settings.clustered {
            self.pipeline
                .push_now(Effect::Publish(Announcement::AwarenessQuery));
        }
    }

    /// The store was read, as asked by [`Effect::CatchUp`]: what it holds beyond what the room
    /// held is applied and sent. `Ok(None)`: its last seq was still the one the room held.
    pub(crate) fn handle_caught_up(
        &mut self,
        loaded: Result<Option<LoadedDoc>, String>,
        now: Instant,
    ) {
        self.catch_up.in_flight = false;
        match loaded {
            Ok(None) => {}
            Ok(Some(loaded)) if loaded.last_seq < self.catch_up.held_when_asked => {
                // The store holds less than this room had when it asked: another node deleted
                // the document.
                self.end_deleted_elsewhere();
            }
            Ok(Some(loaded)) => self.show_caught_up(&loaded),
            Err(error) => {
                warn!(room = %self.name, %error, "could not read what other nodes stored");
            }
        }
        if std::mem::take(&mut self.catch_up.again) {
            self.catch_up();
        } else if self.log.has_hole() {
            self.schedule_catch_up(now);
        }
        self.handle_batch_end(now);
    }

    /// Applies and sends what `loaded` holds beyond what the room held.
    fn show_caught_up(&mut self, loaded: &LoadedDoc) {
        let shows = matches!(
            self.phase,
            Phase::Awake(_) | Phase::Asleep(_) | Phase::Stopped(Some(_))
        );
        if !shows {
            // A read that finds the room loading or gone changes nothing a compaction relies on.
            return;
        }
        let held = self.log.last_seq();
        if loaded.snapshot_through > held
            && let Some(snapshot) = &loaded.snapshot
        {
            // Compacted past what the room held: the snapshot carries it (applying what the
            // room has already is harmless, updates merge).
            self.show_peer_update(snapshot);
        }
        for update in loaded.updates.iter().filter(|update| update.seq > held) {
            if !self.log.holds(update.seq, update.seq) {
                self.show_peer_update(&update.bytes);
            }
        }
        // Only what reached the document counts as held.
        self.log.record_read_through(loaded.loaded_through());
    }

    /// The time came to check a hole seen earlier: read the store if it is still there.
    pub(super) fn handle_catch_up_due(&mut self, now: Instant) {
        if self.catch_up.due.is_some_and(|due| due <= now) {
            self.catch_up.due = None;
            if self.log.has_hole() {
                self.catch_up();
            }
        }
    }

    /// The room's own append was stored past seqs it does not hold: give their publication a
    /// moment, then read the store.
    pub(super) fn handle_own_hole(&mut self, now: Instant) {
        if self.settings.clustered && self.log.has_hole() {
            self.schedule_catch_up(now);
        }
    }

    /// Another node deleted the document (told, or found out: the store holds less than this room
    /// had, or this room's append created it afresh): its clients are closed as a delete here
    /// closes them, and the room ends.
    pub(super) fn end_deleted_elsewhere(&mut self) {
        let reason = CloseReason::new(close_code::DOCUMENT_DELETED, "document deleted");
        self.close_everyone(&reason);
        if !matches!(self.phase, Phase::Stopped(_) | Phase::Deleting) {
            self.stop(reason);
        }
    }

    fn apply_peer_update(&mut self, first: Seq, last: Seq, update: &[u8], now: Instant) {
        if self.log.holds(first, last) {
            return;
        }
        if self.show_peer_update(update) {
            self.log.record_peer(first, last);
        } else {
            // Not in this room's document: held (reading it again would fail again), but no
            // compaction of this room may cover it.
            self.log.record_refused(first, last);
        }
        if self.log.has_hole() {
            self.schedule_catch_up(now);
        }
    }

    /// Applies a stored update from elsewhere and sends it to the clients (a sleeping room only
    /// sends it); false if the room's document refused it.
    fn show_peer_update(&mut self, update: &[u8]) -> bool {
        match &mut self.phase {
            Phase::Awake(room) | Phase::Stopped(Some(room)) => {
                let applied = room.handle_peer_update(update);
                if let Err(error) = &applied {
                    warn!(room = %self.name, %error, "a stored update from another node was refused");
                }
                self.collect_outgoing(None);
                applied.is_ok()
            }
            Phase::Asleep(_) => {
                self.batch.add(Effect::Broadcast {
                    except: None,
                    frame: encode_update_frame(update),
                });
                true
            }
            _ => false,
        }
    }

    fn schedule_catch_up(&mut self, now: Instant) {
        if self.catch_up.due.is_none() {
            self.catch_up.due = Some(now + HOLE_GRACE);
        }
    }

    /// Asks for a read of the store now, or for another once the one in flight is done.
    fn catch_up(&mut self) {
        self.catch_up.due = None;
        if self.catch_up.in_flight {
            self.catch_up.again = true;
            return;
        }
        self.catch_up.in_flight = true;
        self.catch_up.held_when_asked = self.log.last_seq();
        metrics::counter!(telemetry::CLUSTER_CATCH_UPS).increment(1);
        self.pipeline.push_now(Effect::CatchUp {
            held: (!self.log.has_hole()).then(|| self.log.highest()),
        });
    }

    /// Publishes the awareness states of this room's clients, if any.
    fn announce_awareness(&mut self) {
        if let Phase::Awake(room) = &self.phase
            && let Some(frame) = room.awareness_for_peers()
        {
            self.pipeline
                .push_now(Effect::Publish(Announcement::Awareness { frame }));
        }
    }
}

//! When a room compacts, sleeps, retires or is deleted.
//!
//! These decisions are taken whenever the room may have become quiet: after a batch, a persist,
//! a compaction, or a timeout. Each needs nothing in flight: a compaction folds only what is
//! durable (so its snapshot matches the seq it covers), a sleeping room must hold nothing that
//! lives only in memory, and a delete must not race a persist that would recreate the document.

use std::time::Instant;

use super::super::command::CloseReason;
use super::super::effect::{Answer, Effect};
use super::super::sleep::idle_before_sleep;
use super::{AWARENESS_CHECK_INTERVAL, Compaction, Phase, RoomOwner};

/// How long after a failed compaction (storage short of space for the snapshot) the room waits
/// before trying again, as edits keep coming.
const COMPACTION_RETRY: std::time::Duration = std::time::Duration::from_secs(10);
use crate::close_code;
use tracing::warn;

impl RoomOwner {
    /// A compaction asked for with [`Effect::Compact`] finished.
    pub(crate) fn handle_compacted(&mut self, result: Result<(), String>, now: Instant) {
        let Some(compaction) = self.compaction.take() else {
            return;
        };
        match result {
            Ok(()) => {
                self.compaction_retry_at = None;
                self.log
                    .record_compaction(compaction.through, compaction.snapshot_bytes);
            }
            Err(error) => {
                warn!(room = %self.name, %error, "compaction failed; trying again in a while");
                self.compaction_retry_at = Some(now + COMPACTION_RETRY);
            }
        }
        if compaction.then_sleep {
            self.try_sleep(now, false);
        }
        self.after_progress();
    }

    /// The delete asked for with [`Effect::Delete`] finished.
    pub(crate) fn handle_deleted(&mut self, result: Result<bool, String>) {
        self.delete_in_flight = false;
        if self.settings.clustered && result == Ok(true) {
            self.pipeline
                .push([Effect::Publish(crate::cluster::Announcement::Deleted)]);
        }
        if let Some(reply) = self.deleting.take() {
            self.pipeline
                .push([Effect::Answer(Answer::Deleted(reply, result))]);
        }
        self.stop(CloseReason::new(
            close_code::DOCUMENT_DELETED,
            "document deleted",
        ));
    }

    /// The room left the registry after [`Effect::Retire`]: what raced the retirement is fed
    /// next; joins among it go to a fresh room.
    pub(crate) fn handle_retired(&mut self) {
        self.retiring = false;
        let room = match std::mem::replace(&mut self.phase, Phase::Stopped(None)) {
            Phase::Awake(room) => Some(room),
            _ => None,
        };
        self.phase = Phase::Stopped(room);
    }

    /// The room could not leave the registry after [`Effect::Retire`]: a command is waiting.
    pub(crate) fn handle_retire_declined(&mut self) {
        self.retiring = false;
    }

    /// Time passed: awareness expiry, and sleep for a room idle long enough.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.handle_catch_up_due(now);
        if let Phase::Awake(room) = &mut self.phase
            && now >= self.next_awareness_check
        {
            room.handle_tick();
            self.next_awareness_check = now + AWARENESS_CHECK_INTERVAL;
            self.handle_batch_end(now);
        }
        self.try_sleep(now, true);
    }

    /// After a batch, persist or compaction: compact, delete, or retire when the time is right.
    pub(super) fn after_progress(&mut self) {
        if !self.pipeline.is_settled() || self.compaction.is_some() || self.retiring {
            return;
        }
        if self.deleting.is_some() && !self.delete_in_flight {
            self.delete_in_flight = true;
            self.phase = Phase::Deleting;
            self.pipeline.push([Effect::Delete]);
            return;
        }
        let alone = self.commanded && self.connection_count() == 0 && self.stash.is_empty();
        let may_compact = !self.log.compacts_partly()
            && self
                .compaction_retry_at
                .is_none_or(|retry_at| self.last_command >= retry_at);
        match &self.phase {
            // While a snapshot would leave stored updates out, a compaction would empty no
            // log and only come back: the room waits for the catch-up (or retires as it is).
            Phase::Awake(room)
                if may_compact
                    && (self.log.needs_compaction() || (alone && self.log.has_tail())) =>
            {
                self.start_compaction(room.encode_state_as_update(), false);
            }
            Phase::Stopped(Some(room)) if self.log.has_tail() && may_compact => {
                self.start_compaction(room.encode_state_as_update(), false);
            }
            Phase::Awake(_) | Phase::Asleep(_) if alone => {
                self.retiring = true;
                self.pipeline.push([Effect::Retire]);
            }
            _ => {}
        }
    }

    pub(super) fn start_compaction(&mut self, snapshot: Vec<u8>, then_sleep: bool) {
        let through = self.log.last_seq();
        self.compaction = Some(Compaction {
            through,
            snapshot_bytes: snapshot.len() as u64,
            then_sleep,
        });
        self.pipeline.push([Effect::Compact { snapshot, through }]);
    }

    /// Lets the document go if the room has been idle long enough and nothing lives only in
    /// memory (awareness states, effects in flight); compacts first when the log has a tail.
    pub(super) fn try_sleep(&mut self, now: Instant, compact_first: bool) {
        let Some(idle) = self.settings.idle_document_after else {
            return;
        };
        if now < self.last_command + idle_before_sleep(idle, self.log.stored_bytes())
            || !self.pipeline.is_settled()
            || self.compaction.is_some()
            || self.retiring
            || !self.stash.is_empty()
        {
            return;
        }
        let Phase::Awake(room) = &self.phase else {
            return;
        };
        if room.members_if_idle().is_none() {
            return;
        }
        if compact_first && self.log.has_tail() {
            let snapshot = room.encode_state_as_update();
            self.start_compaction(snapshot, true);
            return;
        }
        let members = room.members_if_idle().expect("checked above");
        self.phase = Phase::Asleep(members);
        self.pipeline.push([Effect::Sleep]);
    }
}

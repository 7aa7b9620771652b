//! A room asleep: its clients stay connected, its document is let go of until one speaks.
//!
//! Thousands of idle clients, each alone in its own document, would otherwise hold thousands of
//! documents, batch buffers and room tasks in memory for nobody. A room that has been quiet for
//! `--document-idle-seconds` (a tenth of that for a small document, whose reload costs next to
//! nothing; see [`idle_before_sleep`]), with nothing in flight and no live awareness state (presence lives
//! only in memory), compacts its log and drops its document; its task shrinks to this module's
//! loop, holding who is connected ([`Members`]) and where their frames go. The first command that
//! needs the document wakes it: the room task reloads the document from storage, takes the
//! members back with their ids, and handles the command as if it had never slept. Clients see
//! nothing of it except that first command waiting for the load.
//!
//! Leaving needs no document, so departures are handled asleep; the last one retires the room
//! as an awake room would, waking only if an HTTP read or edit slipped in meanwhile.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crdt_core::{ConnectionId, Members};

use crate::command_queue::CommandReceiver;
use crate::room_command::{ConnectionOutbox, QueuedCommand, RoomCommand};
use crate::room_task::RoomContext;
use crate::telemetry;

/// Documents stored in fewer bytes than this reload in well under a millisecond (a sled read and
/// a small apply), so they sleep sooner: what a sleeping room saves is memory, what it costs is
/// the reload, and for them the saving wins early.
pub(crate) const SMALL_DOCUMENT_BYTES: u64 = 64 * 1024;

/// How long a room whose document takes `stored_bytes` in storage stays loaded without a command,
/// given `--document-idle-seconds` as `idle`.
pub(crate) fn idle_before_sleep(idle: Duration, stored_bytes: u64) -> Duration {
    if stored_bytes < SMALL_DOCUMENT_BYTES {
        idle / 10
    } else {
        idle
    }
}

/// What a sleeping room keeps.
pub(crate) struct Asleep {
    pub(crate) members: Members,
    pub(crate) outboxes: HashMap<ConnectionId, ConnectionOutbox>,
}

/// How a room's sleep ended.
pub(crate) enum Awakening {
    /// A command needs the document: reload it, take the members back, then handle `commands`.
    Wake {
        asleep: Asleep,
        commands: Vec<QueuedCommand>,
    },
    /// The last client left and the room retired.
    Retired,
}

/// Sleeps until a command needs the document, or until everyone has left.
pub(crate) async fn sleep_until_needed(
    context: &RoomContext,
    commands: &mut CommandReceiver<QueuedCommand>,
    mut asleep: Asleep,
) -> Awakening {
    let sleeping_rooms = metrics::gauge!(telemetry::ROOMS_ASLEEP);
    sleeping_rooms.increment(1.0);
    context.status.asleep.store(true, Ordering::Relaxed);
    let awakening = loop {
        let Some(command) = commands.recv().await else {
            // Only the room itself closes its queue, so this is not expected; nothing waits.
            break Awakening::Retired;
        };
        let RoomCommand::Leave { connection } = *command else {
            break Awakening::Wake {
                asleep,
                commands: vec![command],
            };
        };
        if asleep.outboxes.remove(&connection).is_some() {
            asleep.members.handle_disconnect(connection);
        }
        context
            .status
            .clients
            .store(asleep.outboxes.len(), Ordering::Relaxed);
        if asleep.outboxes.is_empty()
            && context
                .registry
                .retire(&context.name, context.generation, commands)
        {
            // Reads and edits that raced the retirement are still owed an answer.
            let owed: Vec<QueuedCommand> = std::iter::from_fn(|| commands.try_recv())
                .filter(|command| {
                    matches!(**command, RoomCommand::Read(_) | RoomCommand::Edit { .. })
                })
                .collect();
            if owed.is_empty() {
                break Awakening::Retired;
            }
            break Awakening::Wake {
                asleep,
                commands: owed,
            };
        }
    };
    context.status.asleep.store(false, Ordering::Relaxed);
    sleeping_rooms.decrement(1.0);
    awakening
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_documents_sleep_after_a_tenth_of_the_idle_time() {
        let idle = Duration::from_secs(10);
        assert_eq!(idle_before_sleep(idle, 0), Duration::from_secs(1));
        assert_eq!(
            idle_before_sleep(idle, SMALL_DOCUMENT_BYTES - 1),
            Duration::from_secs(1)
        );
        assert_eq!(idle_before_sleep(idle, SMALL_DOCUMENT_BYTES), idle);
    }
}

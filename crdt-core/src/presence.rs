//! Presence: which awareness states each connection controls, and when they expire.
//!
//! The document's awareness states are kept by `yrs`'s [`Awareness`]; what y-protocols leaves to
//! the server is the mapping from a connection to the awareness client ids it announced, so that
//! when the connection drops its users vanish from everyone's screen at once rather than 30 s
//! later, and the expiry of states nobody renews any more.

use std::collections::{HashMap, HashSet};

use yrs::block::ClientID;
use yrs::sync::{Awareness, AwarenessUpdate, Timestamp};

use crate::room::{ConnectionId, PeerId};

/// How long an awareness state lives without renewal; Yjs clients renew every 15 s and treat a
/// state as gone after 30 s (`outdatedTimeout` in y-protocols).
pub const AWARENESS_TIMEOUT_MILLIS: u64 = 30_000;

/// What applying a client's awareness update did.
pub(crate) struct AppliedAwareness {
    /// Some state changed or was renewed: the update must be broadcast.
    pub(crate) changed: bool,
    /// The room's removal entries for states the client announced at a clock the room had
    /// already moved past.
    pub(crate) stale: Option<AwarenessUpdate>,
}

/// Who announced an awareness state: a connection of this room, or a peer server sharing the
/// document (whose states go when it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Controller {
    Connection(ConnectionId),
    Peer(PeerId),
}

/// Awareness client ids per connection or peer.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    controlled: HashMap<Controller, HashSet<ClientID>>,
}

impl Presence {
    /// Applies `update` from `controller`.
    pub(crate) fn apply(
        &mut self,
        controller: Controller,
        awareness: &mut Awareness,
        update: AwarenessUpdate,
    ) -> AppliedAwareness {
        let announced: Vec<(ClientID, bool)> = update
            .clients
            .iter()
            .map(|(client, entry)| (*client, entry.json.as_ref() != "null"))
            .collect();
        let stale_clients: Vec<ClientID> = update
            .clients
            .iter()
            .filter(|(client, entry)| {
                entry.json.as_ref() != "null"
                    && awareness
                        .meta(**client)
                        .is_some_and(|(clock, _)| clock > entry.clock)
                    && !has_state(awareness, **client)
            })
            .map(|(client, _)| *client)
            .collect();
        let changed = match awareness.apply_update_summary(update) {
            Ok(Some(summary)) => {
                !summary.added.is_empty()
                    || !summary.updated.is_empty()
                    || !summary.removed.is_empty()
            }
            // Applying never fails on well-formed input; nothing changed either way.
            Ok(None) | Err(_) => false,
        };
        let controlled = self.controlled.entry(controller).or_default();
        for (client, present) in announced {
            if present {
                controlled.insert(client);
            } else {
                controlled.remove(&client);
            }
        }
        let stale = if stale_clients.is_empty() {
            None
        } else {
            awareness.update_with_clients(stale_clients).ok()
        };
        AppliedAwareness { changed, stale }
    }

    /// Removes the states `controller` controlled; the update announcing their removal, if any.
    pub(crate) fn release(
        &mut self,
        controller: Controller,
        awareness: &mut Awareness,
    ) -> Option<AwarenessUpdate> {
        let clients = self.controlled.remove(&controller)?;
        remove_states(awareness, clients)
    }

    /// Removes every state not renewed within [`AWARENESS_TIMEOUT_MILLIS`] of `now`.
    pub(crate) fn expire(
        &mut self,
        awareness: &mut Awareness,
        now: Timestamp,
    ) -> Option<AwarenessUpdate> {
        let outdated: Vec<ClientID> = awareness
            .iter()
            .filter(|(_, state)| {
                state.data.is_some()
                    && now.saturating_sub(state.last_updated) >= AWARENESS_TIMEOUT_MILLIS
            })
            .map(|(client, _)| client)
            .collect();
        for clients in self.controlled.values_mut() {
            for client in &outdated {
                clients.remove(client);
            }
        }
        remove_states(awareness, outdated)
    }

    /// Every live state, or `None` when there is none worth sending.
    pub(crate) fn current_states(&self, awareness: &Awareness) -> Option<AwarenessUpdate> {
        let states = self.all_states(awareness);
        (!states.clients.is_empty()).then_some(states)
    }

    /// The live states this room's own connections announced (not its peers'), for a peer that
    /// asks; `None` when there is none.
    pub(crate) fn connection_states(&self, awareness: &Awareness) -> Option<AwarenessUpdate> {
        let clients: Vec<ClientID> = self
            .controlled
            .iter()
            .filter(|(controller, _)| matches!(controller, Controller::Connection(_)))
            .flat_map(|(_, clients)| clients.iter().copied())
            .filter(|client| has_state(awareness, *client))
            .collect();
        if clients.is_empty() {
            return None;
        }
        awareness.update_with_clients(clients).ok()
    }

    /// Every live state (possibly none), as a QueryAwareness answer.
    pub(crate) fn all_states(&self, awareness: &Awareness) -> AwarenessUpdate {
        awareness.update().unwrap_or_else(|_| AwarenessUpdate {
            clients: HashMap::new(),
        })
    }
}

/// Marks `clients` removed (null state, clock + 1) and encodes that for the other clients.
fn remove_states(
    awareness: &mut Awareness,
    clients: impl IntoIterator<Item = ClientID>,
) -> Option<AwarenessUpdate> {
    let live: Vec<ClientID> = clients
        .into_iter()
        .filter(|client| awareness.meta(*client).is_some() && has_state(awareness, *client))
        .collect();
    if live.is_empty() {
        return None;
    }
    for client in &live {
        awareness.remove_state(*client);
    }
    awareness.update_with_clients(live).ok()
}

fn has_state(awareness: &Awareness, client: ClientID) -> bool {
    awareness
        .iter()
        .any(|(id, state)| id == client && state.data.is_some())
}

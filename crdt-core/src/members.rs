//! Who is in a room whose document has been let go of while its clients stay connected.
//!
//! A server holding thousands of idle connections, each alone in its own document, would spend
//! most of its memory on documents nobody is editing. When a room has been quiet for a while and
//! has nothing in flight (no awareness states, no effects waiting) its document can be dropped:
//! it is in storage, compacted. What must survive is who is connected, under which id and with
//! which access, so that when one of them speaks again the reloaded room
//! ([`crate::Room::handle_resume`]) knows them exactly as before. That is all [`Members`] holds.

use crate::room::{Access, ConnectionId};

/// The connections of a room and the next id it would give out, without the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    pub(crate) access: Vec<(ConnectionId, Access)>,
    pub(crate) next_connection: u64,
}

impl Members {
    /// How many connections there are.
    pub fn len(&self) -> usize {
        self.access.len()
    }

    /// True when nobody is left.
    pub fn is_empty(&self) -> bool {
        self.access.is_empty()
    }

    /// The connections and their access.
    pub fn connections(&self) -> impl Iterator<Item = (ConnectionId, Access)> + '_ {
        self.access.iter().copied()
    }

    /// Forgets `connection` (it left while the room slept); whether it was there.
    pub fn handle_disconnect(&mut self, connection: ConnectionId) -> bool {
        let before = self.access.len();
        self.access.retain(|(member, _)| *member != connection);
        self.access.len() != before
    }
}

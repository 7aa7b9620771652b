//! The relay's rooms: who is in which room, and fan-out of one frame to everyone else in it.
//!
//! Each member is a bounded queue of frames plus a token that closes its connection. A frame is
//! one `Bytes` shared by every queue (a reference-count bump per member, no copy). A member whose
//! queue is full is disconnected, as Quire does with a client that falls behind: awaiting a slow
//! reader would stall the whole room, and an unbounded queue would hide the overload.
//!
//! The registry lock is taken only to join and leave; fan-out takes the room's own lock, so
//! rooms never contend with each other. Neither lock is held across an `.await`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

/// Identifies one connection inside the relay.
pub type MemberId = u64;

/// A connection as the rooms see it: where its frames go and how to disconnect it.
#[derive(Clone)]
pub struct Member {
    pub id: MemberId,
    pub frames: mpsc::Sender<Bytes>,
    /// Cancelled when the member fell behind; its writer then closes the socket.
    pub too_slow: CancellationToken,
}

impl Member {
    /// Queues `frame` for this member, disconnecting it if its queue is full.
    pub fn deliver(&self, frame: Bytes) {
        match self.frames.try_send(frame) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => self.too_slow.cancel(),
        }
    }
}

/// One room: its members in join order.
#[derive(Default)]
pub struct Room {
    members: Mutex<Vec<Member>>,
}

impl Room {
    /// Sends `frame` to every member except `sender`.
    pub fn forward(&self, sender: MemberId, frame: &Bytes) {
        let members = self.members.lock().unwrap_or_else(PoisonError::into_inner);
        for member in members.iter().filter(|member| member.id != sender) {
            member.deliver(frame.clone());
        }
    }
}

/// All rooms of the relay, by name; a room exists while it has members.
#[derive(Default)]
pub struct Rooms {
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    next_member: AtomicU64,
}

impl Rooms {
    /// A fresh member id, unique for the relay's lifetime.
    pub fn next_member_id(&self) -> MemberId {
        self.next_member.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds `member` to the room `name`, creating the room on first join.
    pub fn join(&self, name: &str, member: Member) -> Arc<Room> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let room = rooms.entry(name.to_owned()).or_default().clone();
        room.members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(member);
        room
    }

    /// Removes the member from the room `name`, dropping the room when it is empty.
    pub fn leave(&self, name: &str, member: MemberId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(room) = rooms.get(name) else {
            return;
        };
        let now_empty = {
            let mut members = room.members.lock().unwrap_or_else(PoisonError::into_inner);
            members.retain(|existing| existing.id != member);
            members.is_empty()
        };
        if now_empty {
            rooms.remove(name);
        }
    }
}

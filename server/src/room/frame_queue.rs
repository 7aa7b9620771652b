//! The bounded queue of frames a room sends one connection.
//!
//! Every connection has one, and most connections are idle most of the time, so what an empty
//! queue costs matters more than anything else about it: tokio's bounded mpsc allocates its first
//! block of 32 slots and a semaphore up front, about 1.5 KB per connection before a single frame
//! is sent. This queue is a `VecDeque` behind a std `Mutex` (held for a push or a pop, never
//! across an `.await`): it allocates when frames arrive and gives its buffer back once drained,
//! so an idle connection's queue is one small allocation.
//!
//! One sender (the room) and one receiver (the connection). As with tokio's queue, a full queue
//! refuses the frame instead of waiting (the room closes a client that fell that far behind), a
//! dropped receiver makes sends fail, and a dropped sender ends the receiver once it is drained.
//!
//! Full means too many frames or too many bytes: with 32 MiB messages, a bound in frames alone let
//! one client that stopped reading hold gigabytes. A broadcast frame is one `SharedMessage` (its
//! bytes, and its compressed form once a connection has made it) shared by every
//! queue holding it, so it is stored once but counts against each queue.
//!
//! A frame larger than the byte bound (a whole document over it, sent to a joiner) is taken when
//! no other such frame is queued, and is not counted against the bound: it could never be sent
//! otherwise, and the small frames around it (the room's state vector before it, the edits and
//! awareness that arrive while a slow link takes it in) must not make the client fall behind. So a
//! queue holds at most its bound plus one oversized frame.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use websocket_deflate::SharedMessage;

/// An empty queue keeps a buffer of at most this many frames; a bigger one is given back.
const IDLE_CAPACITY: usize = 8;

/// A queue of at most `capacity` frames (at least 1) and `capacity_bytes` bytes.
pub fn frame_queue(capacity: usize, capacity_bytes: usize) -> (FrameSender, FrameReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::new(),
            bytes: 0,
            oversized: 0,
            receiver_waiting: None,
            sender_alive: true,
            receiver_alive: true,
        }),
        capacity: capacity.max(1),
        capacity_bytes,
    });
    (
        FrameSender {
            shared: shared.clone(),
        },
        FrameReceiver { shared },
    )
}

struct Shared {
    state: Mutex<State>,
    capacity: usize,
    capacity_bytes: usize,
}

struct State {
    frames: VecDeque<SharedMessage>,
    /// The bytes of `frames`, those over the byte bound left out.
    bytes: usize,
    /// How many of `frames` are over the byte bound (0 or 1).
    oversized: usize,
    /// The receiver's task, when it is waiting for a frame.
    receiver_waiting: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state is a single push, pop or flag: a panicking holder cannot
        // leave it half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The room's end: pushes frames without waiting.
pub struct FrameSender {
    shared: Arc<Shared>,
}

impl FrameSender {
    pub fn debug_state(&self) -> (usize, usize, Vec<usize>) {
        let s = self.shared.lock();
        (
            s.frames.len(),
            s.bytes,
            s.frames.iter().map(|f| f.len()).collect(),
        )
    }
    /// Queues `frame`, or hands it back when the queue is full or the receiver is gone.
    pub fn try_send(&self, frame: SharedMessage) -> Result<(), TrySendError<SharedMessage>> {
        let waiting = {
            let mut state = self.shared.lock();
            if !state.receiver_alive {
                return Err(TrySendError::Closed(frame));
            }
            let oversized = frame.len() > self.shared.capacity_bytes;
            let too_many_bytes = if oversized {
                state.oversized > 0
            } else {
                state.bytes + frame.len() > self.shared.capacity_bytes
            };
            if state.frames.len() >= self.shared.capacity || too_many_bytes {
                return Err(TrySendError::Full(frame));
            }
            if oversized {
                state.oversized += 1;
            } else {
                state.bytes += frame.len();
            }
            state.frames.push_back(frame);
            state.receiver_waiting.take()
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
        Ok(())
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        let waiting = {
            let mut state = self.shared.lock();
            state.sender_alive = false;
            state.receiver_waiting.take()
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
    }
}

/// The connection's end.
pub struct FrameReceiver {
    shared: Arc<Shared>,
}

impl FrameReceiver {
    /// The next frame; `None` once the sender is gone and every frame has been taken.
    pub async fn recv(&mut self) -> Option<SharedMessage> {
        poll_fn(|context| self.poll_recv(context)).await
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Result<SharedMessage, TryRecvError> {
        let mut state = self.shared.lock();
        match take_frame(&mut state, self.shared.capacity_bytes) {
            Some(frame) => Ok(frame),
            None if state.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Disconnected),
        }
    }

    /// Polls for the next frame; `Ready(None)` once the sender is gone and the queue drained.
    pub fn poll_recv(&mut self, context: &mut Context<'_>) -> Poll<Option<SharedMessage>> {
        let mut state = self.shared.lock();
        if let Some(frame) = take_frame(&mut state, self.shared.capacity_bytes) {
            return Poll::Ready(Some(frame));
        }
        if !state.sender_alive {
            return Poll::Ready(None);
        }
        match &mut state.receiver_waiting {
            Some(waker) if waker.will_wake(context.waker()) => {}
            waiting => *waiting = Some(context.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        // Nobody will read them: let their memory go now, not when the room drops its end.
        state.frames = VecDeque::new();
        state.bytes = 0;
        state.oversized = 0;
    }
}

/// Pops the oldest frame, giving a drained queue's large buffer back.
fn take_frame(state: &mut State, capacity_bytes: usize) -> Option<SharedMessage> {
    let frame = state.frames.pop_front()?;
    if frame.len() > capacity_bytes {
        state.oversized -= 1;
    } else {
        state.bytes -= frame.len();
    }
    if state.frames.is_empty() && state.frames.capacity() > IDLE_CAPACITY {
        state.frames = VecDeque::new();
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::Bytes;

    fn frame(byte: u8) -> SharedMessage {
        SharedMessage::new(Bytes::from(vec![byte]))
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_the_queue_ends_after_the_sender() {
        let (sender, mut receiver) = frame_queue(4, 1 << 20);
        for byte in 0..3 {
            sender.try_send(frame(byte)).unwrap();
        }
        drop(sender);
        for byte in 0..3 {
            assert_eq!(receiver.recv().await, Some(frame(byte)));
        }
        assert_eq!(receiver.recv().await, None);
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn a_full_queue_refuses_and_a_dropped_receiver_closes() {
        let (sender, mut receiver) = frame_queue(2, 1 << 20);
        sender.try_send(frame(1)).unwrap();
        sender.try_send(frame(2)).unwrap();
        assert!(matches!(
            sender.try_send(frame(3)),
            Err(TrySendError::Full(_))
        ));
        assert_eq!(receiver.try_recv(), Ok(frame(1)));
        sender.try_send(frame(3)).unwrap();
        assert_eq!(receiver.try_recv(), Ok(frame(2)));
        assert_eq!(receiver.try_recv(), Ok(frame(3)));
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Empty));
        drop(receiver);
        assert!(matches!(
            sender.try_send(frame(4)),
            Err(TrySendError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_frame_sent_from_another_task() {
        let (sender, mut receiver) = frame_queue(1, 1 << 20);
        let waiting = tokio::spawn(async move { receiver.recv().await });
        tokio::task::yield_now().await;
        sender.try_send(frame(7)).unwrap();
        assert_eq!(waiting.await.unwrap(), Some(frame(7)));
    }

    #[test]
    fn a_drained_queue_gives_its_large_buffer_back() {
        let (sender, mut receiver) = frame_queue(1024, 1 << 20);
        for byte in 0..100 {
            sender.try_send(frame(byte)).unwrap();
        }
        while receiver.try_recv().is_ok() {}
        assert_eq!(sender.shared.lock().frames.capacity(), 0);
    }

    #[test]
    fn a_queue_is_full_at_its_bytes_but_takes_one_oversized_frame_beside_them() {
        let (sender, mut receiver) = frame_queue(1000, 64);
        let large = SharedMessage::new(Bytes::from(vec![0; 100]));
        sender.try_send(frame(0)).unwrap();
        sender
            .try_send(large.clone())
            .expect("a frame over the bound is taken");
        assert!(
            matches!(sender.try_send(large.clone()), Err(TrySendError::Full(_))),
            "but only one at a time"
        );
        // Small frames behind it fill the bound as if it were not there.
        for byte in 1..64 {
            sender.try_send(frame(byte)).unwrap();
        }
        assert!(
            matches!(sender.try_send(frame(64)), Err(TrySendError::Full(_))),
            "64 bytes queued"
        );
        assert_eq!(receiver.try_recv(), Ok(frame(0)));
        assert_eq!(receiver.try_recv(), Ok(large.clone()));
        sender.try_send(frame(64)).unwrap();
        sender
            .try_send(large)
            .expect("the oversized frame's place is free again");
    }
}

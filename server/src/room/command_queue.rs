//! The bounded queue of commands a room task takes from its connections and the HTTP API.
//!
//! Every room has one for as long as it has clients, including rooms asleep with thousands of
//! idle clients (see `crate::room::sleep`), so what an empty queue costs is what matters most:
//! tokio's bounded mpsc allocates a 32-slot block and its channel state up front (about 800
//! bytes per room even with boxed commands). This queue is a `VecDeque` behind a std `Mutex`
//! (held for a push or a drain, never across an `.await`) that allocates as commands arrive and
//! gives its buffer back once drained, with a tokio [`Semaphore`] for the bound: a sender waits
//! for room (back-pressure reaches the client's socket), fairly, and a closed queue fails sends.
//!
//! Semantics follow tokio's mpsc, which it replaces: many senders, one receiver; `close` stops
//! new sends but leaves what is queued to be taken; the receiver sees the end once the queue is
//! closed (or every sender is gone) and empty.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::Semaphore;

/// A drained queue keeps a buffer of at most this many commands; a bigger one is given back.
const IDLE_CAPACITY: usize = 16;

/// A queue of at most `capacity` items (at least 1).
pub fn command_queue<T>(capacity: usize) -> (CommandSender<T>, CommandReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            receiver_waiting: None,
            senders: 1,
            closed: false,
        }),
        room: Semaphore::new(capacity.max(1)),
    });
    (
        CommandSender {
            shared: shared.clone(),
        },
        CommandReceiver { shared },
    )
}

/// The queue refused the item (it was closed); here it is back.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed<T>(pub T);

struct Shared<T> {
    state: Mutex<State<T>>,
    /// One permit per free place.
    room: Semaphore,
}

struct State<T> {
    items: VecDeque<T>,
    receiver_waiting: Option<Waker>,
    senders: usize,
    closed: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Each critical section is one push, drain or flag: nothing is left half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        self.lock().closed = true;
        self.room.close();
    }
}

/// Sends to the room; cloned by everyone who talks to it.
pub struct CommandSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for CommandSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        CommandSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for CommandSender<T> {
    fn drop(&mut self) {
        let waiting = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            if state.senders > 0 {
                return;
            }
            state.receiver_waiting.take()
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
    }
}

impl<T> CommandSender<T> {
    /// Queues `item`, waiting while the queue is full; hands it back if the queue is closed.
    pub async fn send(&self, item: T) -> Result<(), Closed<T>> {
        let Ok(place) = self.shared.room.acquire().await else {
            return Err(Closed(item));
        };
        let waiting = {
            let mut state = self.shared.lock();
            if state.closed {
                return Err(Closed(item));
            }
            // The place is returned by the receiver when it takes the item.
            place.forget();
            state.items.push_back(item);
            state.receiver_waiting.take()
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
        Ok(())
    }

    /// True once the receiver closed the queue or is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

/// The room task's end.
pub struct CommandReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for CommandReceiver<T> {
    fn drop(&mut self) {
        self.shared.close();
        // Nobody will take what is queued: drop it now, not when the last sender goes, so every
        // reply channel in it closes and its sender stops waiting (a join retries elsewhere).
        let queued = std::mem::take(&mut self.shared.lock().items);
        drop(queued);
    }
}

impl<T> CommandReceiver<T> {
    /// The next item; `None` once the queue is closed (or has no senders) and empty.
    pub async fn recv(&mut self) -> Option<T> {
        let mut taken = Vec::with_capacity(1);
        match self.recv_many(&mut taken, 1).await {
            0 => None,
            _ => taken.pop(),
        }
    }

    /// Waits for at least one item and moves up to `limit` of them into `into`; 0 once the queue
    /// is closed (or has no senders) and empty.
    pub async fn recv_many(&mut self, into: &mut Vec<T>, limit: usize) -> usize {
        poll_fn(|context| self.poll_recv_many(context, into, limit)).await
    }

    fn poll_recv_many(
        &mut self,
        context: &mut Context<'_>,
        into: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let mut state = self.shared.lock();
        let taken = state.items.len().min(limit.max(1));
        if taken > 0 {
            into.extend(state.items.drain(..taken));
            if state.items.is_empty() && state.items.capacity() > IDLE_CAPACITY {
                state.items = VecDeque::new();
            }
            drop(state);
            self.shared.room.add_permits(taken);
            return Poll::Ready(taken);
        }
        if state.closed || state.senders == 0 {
            return Poll::Ready(0);
        }
        match &mut state.receiver_waiting {
            Some(waker) if waker.will_wake(context.waker()) => {}
            waiting => *waiting = Some(context.waker().clone()),
        }
        Poll::Pending
    }

    /// The next item if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        let item = self.shared.lock().items.pop_front()?;
        self.shared.room.add_permits(1);
        Some(item)
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.shared.lock().items.is_empty()
    }

    /// Refuses further sends; what is queued can still be taken.
    pub fn close(&mut self) {
        self.shared.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_receiver_drops_what_was_queued() {
        let (sender, receiver) = command_queue(8);
        let (reply, answer) = tokio::sync::oneshot::channel::<()>();
        sender.send(reply).await.unwrap();
        drop(receiver);
        // The reply channel inside the queue is gone: whoever waits on it hears so at once.
        assert!(answer.await.is_err());
        assert!(sender.is_closed());
    }

    #[tokio::test]
    async fn items_arrive_in_order_in_batches_up_to_the_limit() {
        let (sender, mut receiver) = command_queue(8);
        for item in 0..5 {
            sender.send(item).await.unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(receiver.recv_many(&mut batch, 3).await, 3);
        assert_eq!(receiver.recv_many(&mut batch, 3).await, 2);
        assert_eq!(batch, vec![0, 1, 2, 3, 4]);
        assert!(receiver.is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_makes_senders_wait_until_the_receiver_takes() {
        let (sender, mut receiver) = command_queue(1);
        sender.send(1).await.unwrap();
        let waiting_sender = sender.clone();
        let second = tokio::spawn(async move { waiting_sender.send(2).await });
        tokio::task::yield_now().await;
        assert_eq!(receiver.try_recv(), Some(1));
        second.await.unwrap().unwrap();
        assert_eq!(receiver.recv().await, Some(2));
    }

    #[tokio::test]
    async fn closing_refuses_sends_but_keeps_what_is_queued() {
        let (sender, mut receiver) = command_queue(4);
        sender.send("kept").await.unwrap();
        receiver.close();
        assert!(sender.is_closed());
        assert_eq!(sender.send("refused").await, Err(Closed("refused")));
        assert_eq!(receiver.recv().await, Some("kept"));
        assert_eq!(receiver.recv().await, None);
    }

    #[tokio::test]
    async fn the_receiver_sees_the_end_when_every_sender_is_gone() {
        let (sender, mut receiver) = command_queue::<u8>(4);
        let other = sender.clone();
        drop(sender);
        let end = tokio::spawn(async move { receiver.recv().await });
        tokio::task::yield_now().await;
        drop(other);
        assert_eq!(end.await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_dropped_receiver_fails_waiting_and_later_sends() {
        let (sender, receiver) = command_queue(1);
        sender.send(1).await.unwrap();
        let waiting_sender = sender.clone();
        let blocked = tokio::spawn(async move { waiting_sender.send(2).await });
        tokio::task::yield_now().await;
        drop(receiver);
        assert_eq!(blocked.await.unwrap(), Err(Closed(2)));
        assert_eq!(sender.send(3).await, Err(Closed(3)));
    }

    #[tokio::test]
    async fn a_drained_queue_gives_its_large_buffer_back() {
        let (sender, mut receiver) = command_queue(256);
        for item in 0..100 {
            sender.send(item).await.unwrap();
        }
        let mut batch = Vec::new();
        receiver.recv_many(&mut batch, 256).await;
        assert_eq!(receiver.shared.lock().items.capacity(), 0);
    }
}

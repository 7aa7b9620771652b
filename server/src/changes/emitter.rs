//! The emitter task: turns each ended debounce window into events.
//!
//! A task that only moves time: it sleeps until the next window ends (or a new one opens), takes
//! what is due from the [`Debouncer`](super::debouncer::Debouncer) and records each on the
//! blocking pool, one at a time, so it never competes with rooms for more than one blocking
//! thread. A window whose recording fails (storage refusing writes) is retried a window later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::{DocStore, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::debouncer::DueChange;
use super::event::{EventBody, EventType};
use super::{ChangeJournal, state_vector_of};

/// How long a failed announcement waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Announces ended windows until `shutdown`. Windows still open then are announced after the
/// restart, from their durable marks.
pub(crate) async fn run_emitter(journal: Arc<ChangeJournal>, shutdown: CancellationToken) {
    loop {
        let (due, next) = {
            let mut debouncer = journal.debouncer();
            (debouncer.take_due(Instant::now()), debouncer.next_due())
        };
        for change in due {
            let worker = journal.clone();
            let task_change = change.clone();
            let recorded =
                tokio::task::spawn_blocking(move || announce_window(&worker, &task_change)).await;
            let failure = match recorded {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error.to_string(),
                Err(error) => error.to_string(),
            };
            warn!(document = %change.document, error = failure, "could not announce a change; will retry");
            journal
                .debouncer()
                .retry(change, Instant::now() + RETRY_AFTER);
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = journal.wake.notified() => {}
            () = sleep => {}
        }
    }
}

/// Blocking: records the events of `change`'s window and settles its pending mark.
fn announce_window(journal: &ChangeJournal, change: &DueChange) -> Result<(), StoreError> {
    let store: &dyn DocStore = journal.store();
    let document = &*change.document;
    // Deleted since: its deletion was announced; only the mark is left to settle.
    let bodies = if store.metadata(document)?.is_none() {
        Vec::new()
    } else {
        let loaded = store.load(document)?;
        let vector = state_vector_of(
            loaded.snapshot.as_deref(),
            loaded.updates.iter().map(|update| &update.bytes[..]),
        );
        let mut bodies = Vec::with_capacity(2);
        if change.created {
            bodies.push(EventBody::new(
                EventType::DocumentCreated,
                document,
                Some(&vector),
            ));
        }
        bodies.push(EventBody::new(
            EventType::DocumentUpdated,
            document,
            Some(&vector),
        ));
        bodies
    };
    journal.record(&bodies, Some((document, change.mark)))
}

//! The emitter task: turns each ended debounce window into events.
//!
//! A task that only moves time: it sleeps until the next window ends (or a new one opens), takes
//! what is due from the [`Debouncer`](super::debouncer::Debouncer) and records it all in one
//! go on the blocking pool, with one flush: when thousands of documents' windows end together,
//! that is one flush, not thousands, and never more than one blocking thread. A window whose
//! recording fails (storage refusing writes) is retried after [`RETRY_AFTER`].

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
        if !due.is_empty() {
            let worker = journal.clone();
            let retry = due.clone();
            let failed = tokio::task::spawn_blocking(move || announce_windows(&worker, due))
                .await
                .unwrap_or(retry);
            let mut debouncer = journal.debouncer();
            for change in failed {
                debouncer.retry(change, Instant::now() + RETRY_AFTER);
            }
            // Retries and windows that ended meanwhile: look again before sleeping.
            continue;
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

/// Blocking: records the events of every window in `due`, settling their pending marks, with
/// one flush for them all. Returns the windows that could not be recorded.
fn announce_windows(journal: &ChangeJournal, due: Vec<DueChange>) -> Vec<DueChange> {
    let mut failed = Vec::new();
    let mut last = None;
    for change in due {
        match window_events(journal.store(), &change)
            .and_then(|bodies| journal.append(&bodies, Some((&change.document, change.mark))))
        {
            Ok(appended) => last = appended.or(last),
            Err(error) => {
                warn!(document = %change.document, %error, "could not announce a change; will retry");
                failed.push(change);
            }
        }
    }
    if let Err(error) = journal.publish(last) {
        warn!(%error, "could not make change events durable");
    }
    failed
}

/// The events that end `change`'s window: none if the document was deleted since (its deletion
/// was announced), else `document.created` if the window created it, and `document.updated`.
fn window_events(store: &dyn DocStore, change: &DueChange) -> Result<Vec<EventBody>, StoreError> {
    let document = &*change.document;
    if store.metadata(document)?.is_none() {
        return Ok(Vec::new());
    }
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
    Ok(bodies)
}

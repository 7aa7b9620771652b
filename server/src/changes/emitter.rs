//! The emitter task: turns each ended debounce window into events.
//!
//! A task that only moves time: it sleeps until the next window ends (or a new one opens), takes
//! what is due from the [`Debouncer`](super::debouncer::Debouncer) and records it all in one
//! go on the blocking pool, with one flush: when thousands of documents' windows end together,
//! that is one flush, not thousands, and never more than one blocking thread. A window whose
//! recording fails (storage refusing writes) is retried after [`RETRY_AFTER`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use storage::{DocStore, PendingKind, Settle, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::debouncer::DueChange;
use super::event::{EventBody, EventType};
use super::{ChangeJournal, state_vector_of, version_event};

/// How long a failed announcement waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Announces ended windows until `shutdown`, then every window still open. Marks left in the
/// store (by a crash, or written after this) are announced at the next start.
pub(crate) async fn run_emitter(journal: Arc<ChangeJournal>, shutdown: CancellationToken) {
    let worker = journal.clone();
    match tokio::task::spawn_blocking(move || worker.recover()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            warn!(%error, "cannot read the changes left pending; they wait for the next start")
        }
        Err(_) => {}
    }
    let recovered = journal.take_recovered_versions();
    if !recovered.is_empty() {
        let worker = journal.clone();
        let _ = tokio::task::spawn_blocking(move || announce_versions(&worker, recovered)).await;
    }
    while !shutdown.is_cancelled() {
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
            () = shutdown.cancelled() => break,
            () = journal.wake.notified() => {}
            () = sleep => {}
        }
    }
    // Stopping: every open window is announced now rather than at the next start.
    let open = journal.debouncer().take_all();
    if !open.is_empty() {
        let worker = journal.clone();
        let _ = tokio::task::spawn_blocking(move || announce_windows(&worker, open)).await;
    }
}

/// Blocking: records the events of every window in `due`, settling their pending marks, with
/// one flush for them all. Returns the windows that could not be recorded.
fn announce_windows(journal: &ChangeJournal, due: Vec<DueChange>) -> Vec<DueChange> {
    let mut failed = Vec::new();
    let mut last = None;
    for change in due {
        let settle = Settle {
            kind: PendingKind::Change,
            document: &change.document,
            mark: change.mark,
        };
        let order = journal.hold_announcements();
        let recorded = window_events(journal.store(), &change)
            .and_then(|bodies| journal.append(&bodies, Some(settle)));
        drop(order);
        match recorded {
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

/// The events that end `change`'s window: if the document is gone, its deletion when the mark
/// says it was being deleted (found at start: the server stopped before announcing it), else
/// none (it was announced); if not, `document.created` if the window created it, and
/// `document.updated`.
fn window_events(store: &dyn DocStore, change: &DueChange) -> Result<Vec<EventBody>, StoreError> {
    let document = &*change.document;
    if store.metadata(document)?.is_none() {
        return Ok(if change.deleted {
            vec![EventBody::new(EventType::DocumentDeleted, document, None)]
        } else {
            Vec::new()
        });
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

/// Blocking, at start: announces the versions whose creation was marked but not announced when
/// the server stopped: the document's newest version, if the creation happened (if it did not,
/// the newest is an older one, announced again, which at-least-once allows).
fn announce_versions(journal: &ChangeJournal, recovered: Vec<(String, u64)>) {
    let mut last = None;
    for (document, mark) in recovered {
        let settle = Settle {
            kind: PendingKind::Version,
            document: &document,
            mark,
        };
        let store = journal.store();
        let newest = store
            .list_versions(&document)
            .map(|versions| versions.last().map(|meta| meta.id))
            .and_then(|newest| match newest {
                Some(id) => store.load_version(&document, id),
                None => Ok(None),
            });
        let bodies = match newest {
            Ok(Some((meta, snapshot))) => vec![version_event(&document, &meta, &snapshot)],
            Ok(None) => Vec::new(),
            Err(error) => {
                warn!(document, %error, "cannot read a version to announce; it is left pending");
                continue;
            }
        };
        match journal.append(&bodies, Some(settle)) {
            Ok(appended) => last = appended.or(last),
            Err(error) => warn!(document, %error, "could not announce a version"),
        }
    }
    if let Err(error) = journal.publish(last) {
        warn!(%error, "could not make change events durable");
    }
}

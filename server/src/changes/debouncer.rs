//! Which documents have a change waiting to be announced, and when each announcement is due.
//!
//! A document's first durable change opens a window of the debounce length; changes inside it
//! join it; when it ends, one `document.updated` announces them all, and the next change opens
//! a new window. So a document gets at most one event per window however fast it is edited, and
//! its last edit is announced at most one window late.
//!
//! Every window is equally long, so windows end in the order they opened: a queue, not a heap.
//! Pure and clock-free (the caller passes `now`), so it is unit-tested with made-up instants.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A document whose change is due to be announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DueChange {
    /// The document.
    pub(crate) document: Arc<str>,
    /// The mark of its durable pending change, to settle it with.
    pub(crate) mark: u64,
    /// The window includes the document's creation.
    pub(crate) created: bool,
    /// Found pending at start with its deletion under way: announce the deletion if the
    /// document is gone.
    pub(crate) deleted: bool,
}

/// The open windows.
#[derive(Debug)]
pub(crate) struct Debouncer {
    window: Duration,
    /// Documents in the order their windows end, with when.
    queue: VecDeque<(Instant, Arc<str>)>,
    /// Each waiting document's latest mark and flags.
    waiting: HashMap<Arc<str>, DueChange>,
}

impl Debouncer {
    /// No open windows; each will last `window`.
    pub(crate) fn new(window: Duration) -> Self {
        Debouncer {
            window,
            queue: VecDeque::new(),
            waiting: HashMap::new(),
        }
    }

    /// Whether `document` has a window open (a later change needs no new durable mark, unless it
    /// creates the document).
    pub(crate) fn is_waiting(&self, document: &str) -> bool {
        self.waiting.contains_key(document)
    }

    /// A change to `document`, durably marked with `mark`, became durable at `now`: opens a
    /// window unless one is open, which the change then joins.
    pub(crate) fn change(&mut self, document: Arc<str>, mark: u64, created: bool, now: Instant) {
        let change = DueChange {
            document,
            mark,
            created,
            deleted: false,
        };
        self.insert(change, now + self.window);
    }

    /// A pending change found in the store at start, or one whose announcement failed: due at
    /// `due`. Windows end in order only while every insert is a full window after the last, so
    /// this goes in its place.
    pub(crate) fn retry(&mut self, change: DueChange, due: Instant) {
        self.insert(change, due);
    }

    fn insert(&mut self, change: DueChange, due: Instant) {
        if let Some(waiting) = self.waiting.get_mut(&change.document) {
            waiting.mark = change.mark;
            waiting.created |= change.created;
            waiting.deleted |= change.deleted;
            return;
        }
        let document = change.document.clone();
        self.waiting.insert(document.clone(), change);
        let place = self.queue.partition_point(|(other, _)| *other <= due);
        self.queue.insert(place, (due, document));
    }

    /// When the next window ends, if any is open.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(due, _)| *due)
    }

    /// Closes every window that has ended by `now`, in the order they end.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<DueChange> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.queue.front()
            && *at <= now
        {
            let (_, document) = self.queue.pop_front().expect("the front exists");
            let change = self
                .waiting
                .remove(&document)
                .expect("every queued document is waiting");
            due.push(change);
        }
        due
    }

    /// Closes every window, ended or not, in the order they end (at shutdown).
    pub(crate) fn take_all(&mut self) -> Vec<DueChange> {
        self.queue
            .drain(..)
            .filter_map(|(_, document)| self.waiting.remove(&document))
            .collect()
    }

    /// Documents with an open window.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(2);

    fn documents(due: &[DueChange]) -> Vec<&str> {
        due.iter().map(|change| &*change.document).collect()
    }

    #[test]
    fn many_changes_in_a_window_make_one_announcement_at_its_end() {
        let start = Instant::now();
        let mut debouncer = Debouncer::new(WINDOW);
        debouncer.change("doc".into(), 1, true, start);
        for step in 1..10 {
            assert!(debouncer.is_waiting("doc"));
            debouncer.change(
                "doc".into(),
                1,
                false,
                start + Duration::from_millis(step * 100),
            );
        }
        assert_eq!(debouncer.next_due(), Some(start + WINDOW));
        assert!(
            debouncer
                .take_due(start + WINDOW - Duration::from_millis(1))
                .is_empty()
        );
        let due = debouncer.take_due(start + WINDOW);
        assert_eq!(
            due,
            [DueChange {
                document: "doc".into(),
                mark: 1,
                created: true,
                deleted: false,
            }]
        );
        assert!(!debouncer.is_waiting("doc"));
        assert_eq!(debouncer.next_due(), None);
    }

    #[test]
    fn a_change_after_the_announcement_opens_a_new_window() {
        let start = Instant::now();
        let mut debouncer = Debouncer::new(WINDOW);
        debouncer.change("doc".into(), 1, false, start);
        assert_eq!(debouncer.take_due(start + WINDOW).len(), 1);
        let later = start + WINDOW + Duration::from_millis(10);
        debouncer.change("doc".into(), 2, false, later);
        assert_eq!(debouncer.next_due(), Some(later + WINDOW));
        let due = debouncer.take_due(later + WINDOW);
        assert_eq!((due.len(), due[0].mark, due[0].created), (1, 2, false));
    }

    #[test]
    fn a_later_mark_joins_the_window_and_creation_sticks() {
        let start = Instant::now();
        let mut debouncer = Debouncer::new(WINDOW);
        debouncer.change("doc".into(), 1, false, start);
        debouncer.change("doc".into(), 5, true, start + Duration::from_millis(1));
        debouncer.change("doc".into(), 6, false, start + Duration::from_millis(2));
        let due = debouncer.take_due(start + WINDOW);
        assert_eq!((due[0].mark, due[0].created), (6, true));
    }

    #[test]
    fn windows_end_in_order_and_retries_take_their_place() {
        let start = Instant::now();
        let mut debouncer = Debouncer::new(WINDOW);
        debouncer.change("a".into(), 1, false, start);
        debouncer.change("b".into(), 2, false, start + Duration::from_millis(500));
        let recovered = DueChange {
            document: "c".into(),
            mark: 3,
            created: false,
            deleted: true,
        };
        debouncer.retry(recovered, start);
        assert_eq!(debouncer.len(), 3);
        let recovered = debouncer.take_due(start);
        assert_eq!(documents(&recovered), ["c"]);
        assert!(recovered[0].deleted);
        assert_eq!(documents(&debouncer.take_due(start + WINDOW)), ["a"]);
        debouncer.change("d".into(), 4, false, start + WINDOW);
        assert_eq!(documents(&debouncer.take_all()), ["b", "d"]);
        assert_eq!((debouncer.len(), debouncer.next_due()), (0, None));
    }
}

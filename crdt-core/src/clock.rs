//! Time as the room sees it.
//!
//! Awareness states expire when a client stops renewing them, so the room needs "now". Taking it
//! from an injected clock keeps the core sans-IO: production uses the system clock, tests move a
//! [`ManualClock`] forward instead of sleeping for 30 seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use yrs::sync::{Clock, Timestamp};

/// Wall-clock milliseconds since the Unix epoch, the unit y-protocols uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as Timestamp)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `millis`.
    pub fn starting_at(millis: Timestamp) -> Self {
        ManualClock {
            millis: Arc::new(AtomicU64::new(millis)),
        }
    }

    /// Moves time forward by `millis`.
    pub fn advance(&self, millis: Timestamp) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.millis.load(Ordering::SeqCst)
    }
}

/// A clock shared between the room and the `yrs` awareness it owns.
#[derive(Clone)]
pub(crate) struct SharedClock(pub(crate) Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

//! The facade's bound on whole-snapshot writes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use storage::testing::{HookedStore, StoreHooks};
use storage::{DocStore, MemoryStore, Seq, StoreError};

use super::*;

/// Counts compactions inside the store at once, each held until the test releases one.
struct HeldCompactions {
    inside: AtomicUsize,
    entered: Mutex<std::sync::mpsc::Sender<usize>>,
    release: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl StoreHooks for HeldCompactions {
    fn compact(
        &self,
        inner: &dyn DocStore,
        doc: &str,
        snapshot: &[u8],
        through: Seq,
    ) -> Result<(), StoreError> {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.entered.lock().unwrap().send(now).unwrap();
        self.release.lock().unwrap().recv().unwrap();
        self.inside.fetch_sub(1, Ordering::SeqCst);
        inner.compact(doc, snapshot, through)
    }
}

/// Twelve rooms compacting at once reach the store at most four at a time, and all finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_writes_reach_the_store_a_few_at_a_time() {
    let (entered_sender, entered) = std::sync::mpsc::channel();
    let (release, release_receiver) = std::sync::mpsc::channel();
    let hooks = HeldCompactions {
        inside: AtomicUsize::new(0),
        entered: Mutex::new(entered_sender),
        release: Mutex::new(release_receiver),
    };
    let store: Arc<dyn DocStore> = Arc::new(HookedStore::new(MemoryStore::new(), hooks));
    let storage = Storage::start(store, StorageSettings::with_durability(Durability::Strict));
    let compactions: Vec<_> = (0..12)
        .map(|index| {
            let storage = storage.clone();
            tokio::spawn(async move {
                storage
                    .compact(Arc::from(format!("doc-{index}")), vec![0, 0], Seq::ZERO)
                    .await
            })
        })
        .collect();
    let mut most = 0;
    for _ in 0..12 {
        // Each compaction that gets in reports how many are inside with it; letting one go
        // makes room for the next.
        let inside = tokio::task::block_in_place(|| entered.recv().unwrap());
        most = most.max(inside);
        release.send(()).unwrap();
    }
    for compaction in compactions {
        compaction.await.unwrap().unwrap();
    }
    assert!(most <= MAX_CONCURRENT_SNAPSHOT_WRITES, "{most} at once");
}

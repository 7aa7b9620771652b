//! The process's allocator, mimalloc, and a thread that lets it give freed memory back while
//! the server is quiet.
//!
//! mimalloc rather than glibc's malloc: with glibc the memory of released rooms stayed in its
//! arenas, so RSS never came back down after a burst of documents (tests/js/memory.test.mjs).
//!
//! mimalloc returns a freed page to the OS only after a delay (1 s), and only when some thread
//! next allocates or frees after it. A server that goes quiet, thousands of rooms falling asleep
//! and then nothing but pings every 20 s, never gets there: the documents it let go of stayed
//! resident for as long as it stayed quiet. So a thread asks mimalloc once a second to carry out
//! the returns that are due. Measured in W7 (19,000 idle clients in rooms of their own,
//! docs/benchmarks.md): 5.7-10.6 KiB per connection from run to run without it, 5.7-7.4 KiB
//! with it. Purging at once instead (a delay of 0) gave the same W7 figures but cost W6 (1,000
//! documents loaded in turn) a third more CPU, every load faulting in fresh pages.
//!
//! The only unsafe code in the workspace: one call into mimalloc's C API.
#![allow(unsafe_code)]

use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often the thread asks mimalloc to return what is due: about its purge delay.
const COLLECT_EVERY: Duration = Duration::from_secs(1);

/// Starts the thread that returns freed memory to the OS while the server is quiet. Errors if
/// the thread cannot be started.
pub fn start_returning_freed_memory() -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("quire-memory".to_owned())
        .spawn(|| {
            loop {
                std::thread::sleep(COLLECT_EVERY);
                // SAFETY: mi_collect may be called from any thread at any time; without `force`
                // it frees this thread's empty pages and returns freed ranges whose delay passed.
                unsafe { libmimalloc_sys::mi_collect(false) }
            }
        })?;
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Read;
    use std::time::Instant;

    use super::*;

    /// Resident pages of this process, read without allocating (an allocation would itself let
    /// mimalloc return memory, which is what the test must see done by the thread).
    fn resident_pages() -> u64 {
        let mut buffer = [0_u8; 128];
        let mut file = std::fs::File::open("/proc/self/statm").expect("statm opens");
        let length = file.read(&mut buffer).expect("statm reads");
        buffer[..length]
            .split(|byte| *byte == b' ')
            .nth(1)
            .and_then(|field| std::str::from_utf8(field).ok())
            .and_then(|field| field.parse().ok())
            .expect("statm's second field is the resident page count")
    }

    /// Memory freed by a thread that then does nothing more is back with the OS within seconds.
    #[test]
    fn freed_memory_goes_back_while_the_process_is_quiet() {
        start_returning_freed_memory().unwrap();
        let blocks: Vec<Vec<u8>> = (0..16 * 1024).map(|_| vec![1_u8; 4096]).collect();
        let with_blocks = resident_pages();
        drop(blocks);
        let deadline = Instant::now() + 10 * COLLECT_EVERY;
        // 64 MiB were freed; at least half of it must leave the resident set.
        let returned = |pages: u64| with_blocks.saturating_sub(pages) * 4096 >= 32 << 20;
        while !returned(resident_pages()) {
            assert!(
                Instant::now() < deadline,
                "RSS still {} pages, {} with the blocks",
                resident_pages(),
                with_blocks
            );
            std::thread::sleep(COLLECT_EVERY / 10);
        }
    }
}

//! A global allocator that makes an allocation bomb a crash libFuzzer reports.
//!
//! Built without a sanitizer (stable Rust, `cargo fuzz run -s none`), libFuzzer has no malloc
//! hooks, so `-malloc_limit_mb` sees nothing; `-rss_limit_mb` only sees pages once they are
//! touched, and on Linux a reservation of terabytes costs nothing until then (issue #22's frame
//! made yrs reserve a hash table for 4.4 x 10^11 entries). So every Rust allocation goes through
//! here: it is forwarded to the system allocator, and the process aborts, with a message naming
//! the size, when one request exceeds the limit or the live total passes it. libFuzzer handles
//! the SIGABRT as a crash and saves the input.
//!
//! The limit is `QUIRE_FUZZ_ALLOCATION_LIMIT_MB` MiB, 256 by default (as `-rss_limit_mb` in
//! scripts/fuzz.sh). It covers only what Rust code allocates; libFuzzer's own memory is not
//! counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CStr, c_char};
use std::fmt::Write as _;
use std::io::Write as _;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

const DEFAULT_LIMIT_MIB: usize = 256;
const LIMIT_VARIABLE: &CStr = c"QUIRE_FUZZ_ALLOCATION_LIMIT_MB";

/// The limit in bytes; zero until the first allocation has read the environment.
static LIMIT_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

unsafe extern "C" {
    // libc's, which std links anyway: `std::env::var_os` would allocate, inside the allocator.
    fn getenv(name: *const c_char) -> *const c_char;
}

// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged; the
// counting around it never touches the memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        admit(layout.size(), layout.size());
        // SAFETY: the caller's contract for `alloc`, passed on.
        let pointer = unsafe { System.alloc(layout) };
        if pointer.is_null() {
            release(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        admit(layout.size(), layout.size());
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if pointer.is_null() {
            release(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(pointer, layout) };
        release(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_size = layout.size();
        let growth = new_size.saturating_sub(old_size);
        admit(new_size, growth);
        // SAFETY: the caller's contract for `realloc`, passed on.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if moved.is_null() {
            release(growth);
        } else {
            release(old_size.saturating_sub(new_size));
        }
        moved
    }
}

/// Counts `growth` more live bytes for a request of `size` bytes, aborting past the limit.
fn admit(size: usize, growth: usize) {
    let limit = limit_bytes();
    if size > limit {
        abort_with(format_args!(
            "one allocation of {size} bytes exceeds the fuzzing limit of {limit} bytes"
        ));
    }
    let live = LIVE_BYTES.fetch_add(growth, Ordering::Relaxed) + growth;
    if live > limit {
        abort_with(format_args!(
            "allocating {size} bytes brings the live total to {live} bytes, past the fuzzing \
             limit of {limit} bytes"
        ));
    }
}

fn release(size: usize) {
    LIVE_BYTES.fetch_sub(size, Ordering::Relaxed);
}

fn limit_bytes() -> usize {
    match LIMIT_BYTES.load(Ordering::Relaxed) {
        0 => {
            // Racing threads all read the same variable and store the same value.
            let limit = read_limit_mib().saturating_mul(1 << 20);
            LIMIT_BYTES.store(limit, Ordering::Relaxed);
            limit
        }
        limit => limit,
    }
}

fn read_limit_mib() -> usize {
    // SAFETY: the name is NUL-terminated; nothing here calls setenv.
    let value = unsafe { getenv(LIMIT_VARIABLE.as_ptr()) };
    if value.is_null() {
        return DEFAULT_LIMIT_MIB;
    }
    // SAFETY: getenv returns a NUL-terminated string that lives as long as the environment.
    let text = unsafe { CStr::from_ptr(value) }.to_bytes();
    match std::str::from_utf8(text).map(str::parse::<usize>) {
        Ok(Ok(mib)) if mib > 0 => mib,
        _ => abort_with(format_args!(
            "{} must be a positive whole number of MiB",
            LIMIT_VARIABLE.to_str().unwrap_or_default()
        )),
    }
}

/// Prints `message` to stderr and aborts, without allocating (this runs inside the allocator).
fn abort_with(message: std::fmt::Arguments<'_>) -> ! {
    let mut line = StackLine::default();
    let _ = write!(
        line,
        "\n==quire-fuzz== {message} (set {} to change it)\n",
        LIMIT_VARIABLE.to_str().unwrap_or_default()
    );
    // SAFETY: descriptor 2 stays open; ManuallyDrop keeps it from being closed here.
    let mut stderr = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(2) });
    let _ = stderr.write_all(line.written());
    std::process::abort();
}

/// A message formatted on the stack, cut short if it does not fit.
struct StackLine {
    bytes: [u8; 512],
    length: usize,
}

impl Default for StackLine {
    fn default() -> Self {
        StackLine {
            bytes: [0; 512],
            length: 0,
        }
    }
}

impl StackLine {
    fn written(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

impl std::fmt::Write for StackLine {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let room = self.bytes.len() - self.length;
        let taken = text.len().min(room);
        self.bytes[self.length..self.length + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.length += taken;
        Ok(())
    }
}

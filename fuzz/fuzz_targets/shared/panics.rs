//! Which panics are crashes: only one that escapes the code under test.
//!
//! crdt_core runs yrs's decoders under `catch_unwind` on purpose (yrs panics on some input, and
//! a client's bytes must not take a room down). libfuzzer-sys installs a panic hook that aborts
//! on every panic, caught or not, which would report those as crashes. So the hook here only
//! remembers the last panic of the thread, and [`run`] aborts when a panic reaches it, printing
//! that panic. Set `QUIRE_FUZZ_ABORT_ON_CAUGHT_PANIC=1` to keep libfuzzer-sys's hook and hunt
//! the caught panics in yrs too.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, PanicHookInfo, catch_unwind};
use std::sync::Once;

static HOOK: Once = Once::new();

thread_local! {
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs one fuzz input's checks; a panic escaping them aborts the process, which libFuzzer
/// reports as a crash.
pub fn run(checks: impl FnOnce()) {
    HOOK.call_once(|| {
        if std::env::var_os("QUIRE_FUZZ_ABORT_ON_CAUGHT_PANIC").is_none() {
            std::panic::set_hook(Box::new(remember));
        }
    });
    if catch_unwind(AssertUnwindSafe(checks)).is_err() {
        let panic = LAST_PANIC.with(|last| last.take());
        eprintln!("\n==quire-fuzz== a panic escaped the code under test: {panic}");
        std::process::abort();
    }
}

fn remember(info: &PanicHookInfo<'_>) {
    // Captured only when RUST_BACKTRACE asks for it, as the default hook does.
    let backtrace = Backtrace::capture();
    let message = match backtrace.status() {
        BacktraceStatus::Captured => format!("{info}\n{backtrace}"),
        _ => info.to_string(),
    };
    LAST_PANIC.with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = message;
        }
    });
}

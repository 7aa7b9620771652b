//! Raises this process' open-file soft limit to its hard limit.
//!
//! Every client is a socket and a socket is a file descriptor: W7 holds 19,000 of them, W4 up to
//! 5,000. Shells commonly start processes with a soft limit of 1,024 under a much higher hard
//! limit, which any process may raise itself to; doing so here saves every benchmark run from a
//! `ulimit -n` step.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft limit to the hard one and returns the resulting limit (`u64::MAX`:
/// unlimited).
pub fn raise_to_hard_limit() -> std::io::Result<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        )?;
    }
    Ok(limit.maximum.unwrap_or(u64::MAX))
}

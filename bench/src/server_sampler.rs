//! The server's memory and CPU time, read from `/proc/PID` while a workload runs.
//!
//! The load generator and the server run on the same machine (separate cores), so the server's
//! resource use is read from procfs rather than asked of the server: that works for every server
//! compared, including ones without metrics. RSS is `VmRSS` of `/proc/PID/status`; CPU time is
//! `utime + stime` of `/proc/PID/stat`, in clock ticks. A background task samples RSS every
//! 100 ms for the peak. For a cluster's nodes, both are summed over their processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How often the peak RSS is sampled.
const PEAK_INTERVAL: Duration = Duration::from_millis(100);

/// A reading could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// `/proc/PID/...` could not be read (the process is gone?).
    #[error("cannot read /proc/{pid}/{file}: {source}")]
    Read {
        pid: u32,
        file: &'static str,
        source: std::io::Error,
    },
    /// The file did not have the expected layout.
    #[error("unexpected layout of /proc/{pid}/{file}")]
    Layout { pid: u32, file: &'static str },
}

/// One reading of the server.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// User plus system CPU time so far, in seconds.
    pub cpu_seconds: f64,
}

/// The server's resource use over one measurement, as reported.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    pub rss_bytes_start: u64,
    pub rss_bytes_end: u64,
    pub rss_bytes_peak: u64,
    pub cpu_seconds: f64,
}

/// Reads one process, or the processes of a cluster's nodes as one.
#[derive(Debug, Clone)]
pub struct ServerSampler {
    pids: Arc<[u32]>,
}

impl ServerSampler {
    /// A sampler of processes `pids` (at least one), summed.
    pub fn new(pids: &[u32]) -> Self {
        ServerSampler {
            pids: Arc::from(pids),
        }
    }

    /// The process' RSS and CPU time now.
    pub fn read(&self) -> Result<Reading, SampleError> {
        Ok(Reading {
            rss_bytes: self.rss_bytes()?,
            cpu_seconds: self.cpu_seconds()?,
        })
    }

    /// Resident set size in bytes, summed over the processes.
    pub fn rss_bytes(&self) -> Result<u64, SampleError> {
        self.pids.iter().map(|pid| rss_bytes_of(*pid)).sum()
    }

    /// User plus system CPU time in seconds, summed over the processes.
    pub fn cpu_seconds(&self) -> Result<f64, SampleError> {
        self.pids.iter().map(|pid| cpu_seconds_of(*pid)).sum()
    }

    /// Starts sampling: RSS and CPU now, and the peak RSS until [`Sampling::finish`].
    pub fn start(&self) -> Result<Sampling, SampleError> {
        let start = self.read()?;
        let peak = Arc::new(AtomicU64::new(start.rss_bytes));
        let stop = CancellationToken::new();
        let sampler = self.clone();
        let task_peak = Arc::clone(&peak);
        let task_stop = stop.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(PEAK_INTERVAL);
            loop {
                tokio::select! {
                    () = task_stop.cancelled() => break,
                    _ = interval.tick() => {
                        if let Ok(rss) = sampler.rss_bytes() {
                            task_peak.fetch_max(rss, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Ok(Sampling {
            sampler: self.clone(),
            start,
            peak,
            _stop: stop.drop_guard(),
        })
    }
}

fn read_file(pid: u32, file: &'static str) -> Result<String, SampleError> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|source| SampleError::Read {
        pid,
        file,
        source,
    })
}

/// Resident set size of `pid` in bytes.
fn rss_bytes_of(pid: u32) -> Result<u64, SampleError> {
    let layout = || SampleError::Layout {
        pid,
        file: "status",
    };
    let status = read_file(pid, "status")?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .ok_or_else(layout)?;
    let kib: u64 = line
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|_| layout())?;
    Ok(kib * 1024)
}

/// User plus system CPU time of `pid` in seconds.
fn cpu_seconds_of(pid: u32) -> Result<f64, SampleError> {
    let layout = || SampleError::Layout { pid, file: "stat" };
    let stat = read_file(pid, "stat")?;
    // The command name (field 2) may contain spaces and parentheses; fields after it are
    // counted from its closing parenthesis. utime and stime are fields 14 and 15.
    let after_name = &stat[stat.rfind(')').ok_or_else(layout)? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let mut next_ticks = || -> Result<u64, SampleError> {
        fields
            .next()
            .and_then(|field| field.parse().ok())
            .ok_or_else(layout)
    };
    let ticks = next_ticks()? + next_ticks()?;
    Ok(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// A measurement window being sampled.
pub struct Sampling {
    sampler: ServerSampler,
    start: Reading,
    peak: Arc<AtomicU64>,
    _stop: DropGuard,
}

impl Sampling {
    /// The reading the window started with.
    pub fn start_reading(&self) -> Reading {
        self.start
    }

    /// Ends the window: RSS now, the peak seen and the CPU time spent since the start.
    pub fn finish(self) -> Result<ServerUsage, SampleError> {
        let end = self.sampler.read()?;
        let peak = self.peak.load(Ordering::Relaxed).max(end.rss_bytes);
        Ok(ServerUsage {
            pid: self.sampler.pids[0],
            rss_bytes_start: self.start.rss_bytes,
            rss_bytes_end: end.rss_bytes,
            rss_bytes_peak: peak,
            cpu_seconds: end.cpu_seconds - self.start.cpu_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let sampler = ServerSampler::new(&[std::process::id()]);
        let reading = sampler.read().expect("/proc is readable");
        assert!(reading.rss_bytes > 1024 * 1024, "{reading:?}");
        assert!(reading.cpu_seconds >= 0.0);
    }
}

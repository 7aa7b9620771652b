//! Abuse limits that are counted across connections: open connections in total and per IP, and
//! the message rate of one connection.
//!
//! Connection counts are taken when a connection is accepted, before anything is read from it
//! (`app::listener`): a connection that never finishes its request holds a descriptor as surely
//! as an open WebSocket. A refused plain-HTTP client still gets an HTTP status (503, or 429 for
//! one address), written raw (`app::accept_refusal`). The permit travels inside the connection's
//! stream, through the upgrade, and gives its place back when the connection ends, however it
//! ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::http::StatusCode;

use crate::api_error::ApiError;

/// Open connections, in total and per address.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    open: Mutex<OpenConnections>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// One connection's place under the limits, given back on drop.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    address: IpAddr,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections, `max_per_address` from one address.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(ConnectionLimits {
            max_total,
            max_per_address,
            open: Mutex::new(OpenConnections::default()),
        })
    }

    /// A place for a connection from `address`, or the refusal to answer with.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<ConnectionPermit, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_total {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_connections",
                format!(
                    "the server holds its limit of {} connections",
                    self.max_total
                ),
            ));
        }
        let from_address = open.per_address.entry(address).or_default();
        if *from_address >= self.max_per_address {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_connections_from_address",
                format!(
                    "{address} holds its limit of {} connections",
                    self.max_per_address
                ),
            ));
        }
        *from_address += 1;
        open.total += 1;
        Ok(ConnectionPermit {
            limits: self.clone(),
            address,
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self
            .limits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.per_address.remove(&self.address);
            }
        }
    }
}

/// A token bucket: `rate` messages per second, bursts up to twice that.
#[derive(Debug)]
pub struct MessageRate {
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled: Instant,
}

impl MessageRate {
    /// A full bucket for `per_second` messages a second.
    pub fn new(per_second: u32) -> Self {
        Self::per_second(f64::from(per_second.max(1)))
    }

    fn per_second(rate: f64) -> Self {
        MessageRate {
            rate,
            capacity: rate * 2.0,
            tokens: rate * 2.0,
            refilled: Instant::now(),
        }
    }

    /// Takes one message's token at `now`; false when the sender is over its rate.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `amount` tokens at `now` if any are left, going into debt for the rest: one message
    /// larger than the whole bucket (a 32 MiB update under an 8 MiB/s limit) still passes when
    /// the sender has been quiet, and the debt holds back what follows. False when nothing is
    /// left.
    fn take(&mut self, now: Instant, amount: f64) -> bool {
        self.refill(now);
        if self.tokens > 0.0 {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled = now;
    }
}

/// What one connection may send: messages and bytes per second, bursts of twice each.
#[derive(Debug)]
pub struct InboundRate {
    messages: MessageRate,
    bytes: MessageRate,
}

/// Which inbound limit a connection went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverRate {
    /// `--max-messages-per-second`.
    Messages,
    /// `--max-bytes-per-second`.
    Bytes,
}

impl InboundRate {
    /// Full buckets for `messages_per_second` and `bytes_per_second`.
    pub fn new(messages_per_second: u32, bytes_per_second: u64) -> Self {
        InboundRate {
            messages: MessageRate::new(messages_per_second),
            bytes: MessageRate::per_second(bytes_per_second.max(1) as f64),
        }
    }

    /// Charges `bytes` more to the byte rate of a message already allowed (what inflating a
    /// compressed message added), going into debt if need be: what follows is held back.
    pub fn charge(&mut self, now: Instant, bytes: usize) {
        self.bytes.refill(now);
        self.bytes.tokens -= bytes as f64;
    }

    /// Counts a message of `bytes` bytes arriving at `now`.
    pub fn allow(&mut self, now: Instant, bytes: usize) -> Result<(), OverRate> {
        if !self.messages.allow(now) {
            return Err(OverRate::Messages);
        }
        if !self.bytes.take(now, bytes as f64) {
            return Err(OverRate::Bytes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn permits_count_per_address_and_in_total_and_come_back() {
        let limits = ConnectionLimits::new(3, 2);
        let first: IpAddr = "127.0.0.1".parse().unwrap();
        let second: IpAddr = "127.0.0.2".parse().unwrap();
        let a = limits.admit(first).unwrap();
        let _b = limits.admit(first).unwrap();
        let refused = limits.admit(first).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let _c = limits.admit(second).unwrap();
        assert_eq!(
            limits.admit(second).unwrap_err().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(a);
        assert!(
            limits.admit(first).is_ok(),
            "a closed connection's place is free again"
        );
    }

    #[test]
    fn message_rate_allows_bursts_then_refills() {
        let start = Instant::now();
        let mut rate = MessageRate::new(10);
        let allowed = (0..100).filter(|_| rate.allow(start)).count();
        assert_eq!(allowed, 20, "a burst of twice the rate");
        assert!(!rate.allow(start));
        assert!(
            rate.allow(start + Duration::from_millis(150)),
            "refilled after a while"
        );
    }

    #[test]
    fn bytes_pass_in_bursts_of_twice_the_rate_and_one_large_message_borrows() {
        let start = Instant::now();
        let mut rate = InboundRate::new(1000, 100);
        assert_eq!(rate.allow(start, 150), Ok(()));
        assert_eq!(
            rate.allow(start, 60),
            Ok(()),
            "50 bytes were left: it borrows 10"
        );
        assert_eq!(rate.allow(start, 1), Err(OverRate::Bytes));
        // A second refills 100 bytes: the debt of 10 is paid and 90 are there.
        let later = start + Duration::from_secs(1);
        assert_eq!(
            rate.allow(later, 500),
            Ok(()),
            "one large message still passes"
        );
        assert_eq!(rate.allow(later, 1), Err(OverRate::Bytes));
        let much_later = later + Duration::from_secs(10);
        assert_eq!(rate.allow(much_later, 1), Ok(()));
        let mut messages = InboundRate::new(1, 1 << 20);
        assert_eq!(messages.allow(start, 1), Ok(()));
        assert_eq!(messages.allow(start, 1), Ok(()));
        assert_eq!(messages.allow(start, 1), Err(OverRate::Messages));
    }
}

//! How fast each user may send messages: one token bucket per account,
//! shared by all of its sessions (`--messages-per-sec`, `--message-burst`).
//!
//! Memory stays bounded: a bucket that has refilled is the same as no
//! bucket, so full ones are dropped whenever the table has doubled since
//! the last sweep. What remains is one small entry per account that sent
//! within the last `burst / rate` seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::AccountId;

/// Entries below this are never swept: sweeping a small table buys nothing.
const SWEEP_FLOOR: usize = 1024;

/// The per-account send limiter.
pub struct SendRate {
    /// Tokens added per second.
    rate: f64,
    /// Most tokens a bucket holds: the burst.
    burst: f64,
    table: Mutex<Table>,
}

struct Table {
    buckets: HashMap<AccountId, Bucket>,
    sweep_at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl SendRate {
    /// `per_sec` messages per second on average, `burst` at once; both at
    /// least 1.
    pub fn new(per_sec: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
        }
    }

    /// Takes one message's token from `account`'s bucket, or says how long
    /// until one is there.
    pub fn take(&self, account: AccountId, now: Instant) -> Result<(), Duration> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.buckets.len() >= table.sweep_at {
            table
                .buckets
                .retain(|_, b| self.refilled(*b, now) < self.burst);
            table.sweep_at = (table.buckets.len() * 2).max(SWEEP_FLOOR);
        }
        let full = Bucket {
            tokens: self.burst,
            at: now,
        };
        let bucket = table.buckets.entry(account).or_insert(full);
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
        }
    }

    /// Tokens in `bucket` at `now`.
    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.rate).min(self.burst)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table.lock().unwrap().buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_average_rate_holds() {
        let limit = SendRate::new(5, 3);
        let (me, t0) = (AccountId(1), Instant::now());
        for _ in 0..3 {
            assert!(limit.take(me, t0).is_ok());
        }
        let wait = limit.take(me, t0).unwrap_err();
        assert!(wait > Duration::from_millis(190) && wait <= Duration::from_millis(200));
        assert!(limit.take(me, t0 + Duration::from_millis(100)).is_err());
        assert!(limit.take(me, t0 + Duration::from_millis(200)).is_ok());
        assert!(limit.take(AccountId(2), t0).is_ok(), "others are not held");
    }

    #[test]
    fn refilled_buckets_are_forgotten() {
        let limit = SendRate::new(1000, 2);
        let t0 = Instant::now();
        for id in 0..5000 {
            limit.take(AccountId(id), t0).unwrap();
        }
        let later = t0 + Duration::from_secs(1);
        for id in 5000..10_000 {
            limit.take(AccountId(id), later).unwrap();
        }
        assert!(limit.tracked() < 6000, "{}", limit.tracked());
    }
}

//! Throttles for password guessing and sign-ups. An attempt is counted
//! (reserved) before its password is hashed, under one lock, so parallel
//! guesses cannot all slip past the check; a login that succeeds is given
//! back. Tables have a fixed number of entries: when they are full of live
//! windows, strangers are refused, never let through untracked.
//!
//! Guessing is slowed without locking the owner out (the "device cookie"
//! model): a device holding a token resumes without any password, and an
//! address that logged into an account before is counted only against
//! itself on that account, never against the limits strangers trigger.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use natter_common::Refusal;

use crate::store::AccountId;

/// Entries one table may hold. A key is at most an account id and an
/// address, so a full table is a few MiB.
pub const MAX_TRACKED: usize = 65_536;

const LOGIN_WINDOW: Duration = Duration::from_secs(60);
const SIGN_UP_WINDOW: Duration = Duration::from_secs(3600);

/// Fixed windows of counted attempts per key, at most `cap` keys.
struct Windows<K> {
    limit: u32,
    length: Duration,
    cap: usize,
    map: HashMap<K, Window>,
    /// No entry expires before this: a full table is not swept until then.
    next_expiry: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl<K: Hash + Eq + Copy> Windows<K> {
    fn new(limit: u32, length: Duration, cap: usize) -> Self {
        Self {
            limit,
            length,
            cap,
            map: HashMap::new(),
            next_expiry: None,
        }
    }

    /// Whether one more attempt under `key` is allowed now; if not, how long
    /// until it may be.
    fn admits(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if let Some(w) = self.map.get(key) {
            let age = now.duration_since(w.started);
            if age < self.length && w.count >= self.limit {
                return Err(self.length - age);
            }
            return Ok(());
        }
        if self.map.len() < self.cap {
            return Ok(());
        }
        self.sweep(now);
        match self.next_expiry {
            Some(at) if self.map.len() >= self.cap => Err(at.saturating_duration_since(now)),
            _ => Ok(()),
        }
    }

    /// Counts one attempt; call only after [`Windows::admits`] said yes.
    fn count(&mut self, key: K, now: Instant) {
        let length = self.length;
        let w = self.map.entry(key).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(w.started) >= length {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        w.count += 1;
        let expiry = w.started + length;
        self.next_expiry = Some(self.next_expiry.map_or(expiry, |at| at.min(expiry)));
    }

    /// Gives back one counted attempt.
    fn refund(&mut self, key: &K) {
        if let Some(w) = self.map.get_mut(key) {
            w.count = w.count.saturating_sub(1);
            if w.count == 0 {
                self.map.remove(key);
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        if self.next_expiry.is_some_and(|at| now < at) {
            return;
        }
        let length = self.length;
        self.map
            .retain(|_, w| now.duration_since(w.started) < length);
        self.next_expiry = self.map.values().map(|w| w.started + length).min();
    }
}

fn limited(wait: Duration) -> Refusal {
    Refusal::RateLimited {
        retry_after_ms: wait.as_millis().clamp(1, u128::from(u32::MAX)) as u32,
    }
}

/// Who is guessing at an account, as far as the server can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An address that never logged into this account.
    Stranger,
    /// An address that logged into this account before.
    Known,
}

/// A counted login attempt: give it back with [`LoginThrottle::refund`]
/// when the password was right or was never checked.
#[derive(Debug)]
#[must_use = "a successful attempt must be refunded"]
pub struct Attempt {
    account: Option<AccountId>,
    address: IpAddr,
    origin: Origin,
}

/// Failed logins per account (from strangers), per address (from
/// strangers) and per (account, known address), in one-minute windows.
pub struct LoginThrottle {
    state: Mutex<Logins>,
}

struct Logins {
    accounts: Windows<AccountId>,
    addresses: Windows<IpAddr>,
    known: Windows<(AccountId, IpAddr)>,
}

impl LoginThrottle {
    pub fn new(per_account: u32, per_address: u32) -> Self {
        Self::with_cap(per_account, per_address, MAX_TRACKED)
    }

    fn with_cap(per_account: u32, per_address: u32, cap: usize) -> Self {
        Self {
            state: Mutex::new(Logins {
                accounts: Windows::new(per_account, LOGIN_WINDOW, cap),
                addresses: Windows::new(per_address, LOGIN_WINDOW, cap),
                known: Windows::new(per_account, LOGIN_WINDOW, cap),
            }),
        }
    }

    /// Checks and counts one attempt in a single step, before any password
    /// is hashed. `account` is None for a name that has no account (counted
    /// against the address only).
    pub fn reserve(
        &self,
        account: Option<AccountId>,
        address: IpAddr,
        origin: Origin,
    ) -> Result<Attempt, Refusal> {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match (origin, account) {
            (Origin::Known, Some(id)) => {
                s.known.admits(&(id, address), now).map_err(limited)?;
                s.known.count((id, address), now);
            }
            _ => {
                if let Some(id) = account {
                    s.accounts.admits(&id, now).map_err(limited)?;
                }
                s.addresses.admits(&address, now).map_err(limited)?;
                if let Some(id) = account {
                    s.accounts.count(id, now);
                }
                s.addresses.count(address, now);
            }
        }
        Ok(Attempt {
            account,
            address,
            origin,
        })
    }

    /// Gives an attempt back: the login succeeded, or the password was never
    /// checked (the server was busy).
    pub fn refund(&self, attempt: Attempt) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match (attempt.origin, attempt.account) {
            (Origin::Known, Some(id)) => s.known.refund(&(id, attempt.address)),
            (_, account) => {
                if let Some(id) = account {
                    s.accounts.refund(&id);
                }
                s.addresses.refund(&attempt.address);
            }
        }
    }
}

/// Accounts created per address, in one-hour windows.
pub struct SignUpThrottle {
    state: Mutex<Windows<IpAddr>>,
}

/// A counted sign-up: refund it if no account was created.
#[derive(Debug)]
#[must_use = "a failed sign-up must be refunded"]
pub struct SignUp(IpAddr);

impl SignUpThrottle {
    pub fn new(per_hour: u32) -> Self {
        Self {
            state: Mutex::new(Windows::new(per_hour, SIGN_UP_WINDOW, MAX_TRACKED)),
        }
    }

    /// Checks and counts one sign-up from `address`, before its password is
    /// hashed.
    pub fn reserve(&self, address: IpAddr) -> Result<SignUp, Refusal> {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.admits(&address, now).map_err(limited)?;
        s.count(address, now);
        Ok(SignUp(address))
    }

    /// Gives back a sign-up that created no account.
    pub fn refund(&self, sign_up: SignUp) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.refund(&sign_up.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn is_limited<T>(r: Result<T, Refusal>) -> bool {
        matches!(r, Err(Refusal::RateLimited { .. }))
    }

    #[test]
    fn strangers_are_limited_per_account_and_the_owner_is_not() {
        let t = LoginThrottle::new(2, 100);
        let bob = Some(AccountId(1));
        for _ in 0..2 {
            let _ = t.reserve(bob, ip("10.0.0.1"), Origin::Stranger).unwrap();
        }
        assert!(is_limited(t.reserve(bob, ip("10.0.0.1"), Origin::Stranger)));
        assert!(is_limited(t.reserve(bob, ip("10.0.0.2"), Origin::Stranger)));
        let other = t.reserve(Some(AccountId(2)), ip("10.0.0.1"), Origin::Stranger);
        assert!(other.is_ok(), "another account is not affected");
        let owner = t.reserve(bob, ip("10.0.0.9"), Origin::Known).unwrap();
        t.refund(owner);
    }

    #[test]
    fn a_success_is_given_back() {
        let t = LoginThrottle::new(1, 100);
        let bob = Some(AccountId(1));
        for _ in 0..3 {
            let attempt = t.reserve(bob, ip("10.0.0.1"), Origin::Stranger).unwrap();
            t.refund(attempt);
        }
        assert!(t.state.lock().unwrap().accounts.map.is_empty());
    }

    #[test]
    fn the_address_limit_spares_known_logins() {
        let t = LoginThrottle::new(100, 2);
        let nat = ip("10.0.0.1");
        for n in 0..2 {
            let _ = t
                .reserve(Some(AccountId(n)), nat, Origin::Stranger)
                .unwrap();
        }
        assert!(is_limited(t.reserve(None, nat, Origin::Stranger)));
        assert!(t.reserve(Some(AccountId(7)), nat, Origin::Known).is_ok());
    }

    #[test]
    fn a_full_table_fails_closed_and_stays_bounded() {
        let t = LoginThrottle::with_cap(5, 5, 3);
        for n in 0..3 {
            let _ = t.reserve(None, ip(&format!("10.0.0.{n}")), Origin::Stranger);
        }
        assert!(is_limited(t.reserve(
            None,
            ip("10.0.1.1"),
            Origin::Stranger
        )));
        assert!(
            is_limited(t.reserve(Some(AccountId(1)), ip("10.0.1.2"), Origin::Stranger)),
            "nothing is counted when one of the keys finds no room"
        );
        assert!(
            t.reserve(None, ip("10.0.0.1"), Origin::Stranger).is_ok(),
            "a tracked key still counts"
        );
        let s = t.state.lock().unwrap();
        assert_eq!(s.addresses.map.len(), 3);
        assert!(s.accounts.map.is_empty());
    }

    #[test]
    fn expired_windows_make_room() {
        let mut w = Windows::new(1, Duration::from_secs(60), 2);
        let start = Instant::now();
        w.count(1u8, start);
        w.count(2u8, start);
        assert!(w.admits(&3, start).is_err());
        let later = start + Duration::from_secs(61);
        assert!(w.admits(&3, later).is_ok());
        assert!(w.admits(&1, later).is_ok(), "its window is over");
        assert!(w.map.is_empty());
    }

    #[test]
    fn sign_ups_are_counted_per_address() {
        let t = SignUpThrottle::new(2);
        let a = t.reserve(ip("10.0.0.1")).unwrap();
        let _ = t.reserve(ip("10.0.0.1")).unwrap();
        assert!(is_limited(t.reserve(ip("10.0.0.1"))));
        assert!(t.reserve(ip("10.0.0.2")).is_ok());
        t.refund(a);
        assert!(t.reserve(ip("10.0.0.1")).is_ok());
    }
}

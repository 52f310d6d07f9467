//! Who may hold a connection: at most so many connections per address,
//! fewer of them not yet logged in, and at most so many sessions per
//! account. Each admitted connection or session holds a guard that gives
//! its place back when dropped, so the counts cannot leak.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::store::AccountId;

/// The key under which per-address limits count a client: an IPv4 address
/// (an IPv4-mapped IPv6 one is the same), or an IPv6 address's /64 prefix.
/// One host is routinely given a whole /64 and may pick any address in it,
/// so a limit per full IPv6 address would be no limit at all.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !(u128::from(u64::MAX));
            IpAddr::V6(std::net::Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// The caps, shared by the listener and every session.
pub struct Admission {
    per_address: usize,
    unauthenticated_per_address: usize,
    sessions_per_account: usize,
    state: Mutex<Counts>,
}

/// Entries exist only while a connection or session holds them, so the
/// maps never hold more than the server's connection limit.
#[derive(Default)]
struct Counts {
    addresses: HashMap<IpAddr, AddressCount>,
    sessions: HashMap<AccountId, usize>,
}

#[derive(Default, Clone, Copy)]
struct AddressCount {
    connections: usize,
    unauthenticated: usize,
}

/// Why a new connection was not admitted; its `Display` is the close reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Full {
    #[error("too many connections from your address")]
    Address,
    #[error("too many connections from your address that have not logged in")]
    Unauthenticated,
}

impl Admission {
    pub fn new(
        per_address: usize,
        unauthenticated_per_address: usize,
        sessions_per_account: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            per_address,
            unauthenticated_per_address,
            sessions_per_account,
            state: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a new, not yet logged-in connection from `address`.
    pub fn connect(self: &Arc<Self>, address: IpAddr) -> Result<Connection, Full> {
        let address = address_key(address);
        let mut counts = self.counts();
        let count = counts.addresses.entry(address).or_default();
        let full = if count.connections >= self.per_address {
            Some(Full::Address)
        } else if count.unauthenticated >= self.unauthenticated_per_address {
            Some(Full::Unauthenticated)
        } else {
            None
        };
        if let Some(full) = full {
            if count.connections == 0 {
                counts.addresses.remove(&address);
            }
            return Err(full);
        }
        count.connections += 1;
        count.unauthenticated += 1;
        Ok(Connection {
            admission: self.clone(),
            address,
            authenticated: false,
        })
    }

    /// Opens a session for `account`, or None if it has the most it may.
    pub fn open_session(self: &Arc<Self>, account: AccountId) -> Option<Session> {
        let mut counts = self.counts();
        let open = counts.sessions.entry(account).or_default();
        if *open >= self.sessions_per_account {
            if *open == 0 {
                counts.sessions.remove(&account);
            }
            return None;
        }
        *open += 1;
        Some(Session {
            admission: self.clone(),
            account,
        })
    }

    /// The most sessions one account may have.
    pub fn sessions_per_account(&self) -> usize {
        self.sessions_per_account
    }
}

/// An admitted connection's place in its address's counts.
pub struct Connection {
    admission: Arc<Admission>,
    address: IpAddr,
    authenticated: bool,
}

impl Connection {
    /// The connection logged in: it no longer counts as unauthenticated.
    pub fn authenticated(&mut self) {
        if !self.authenticated {
            self.authenticated = true;
            let mut counts = self.admission.counts();
            if let Some(count) = counts.addresses.get_mut(&self.address) {
                count.unauthenticated -= 1;
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        if let Some(count) = counts.addresses.get_mut(&self.address) {
            count.connections -= 1;
            if !self.authenticated {
                count.unauthenticated -= 1;
            }
            if count.connections == 0 {
                counts.addresses.remove(&self.address);
            }
        }
    }
}

/// One of an account's session places.
pub struct Session {
    admission: Arc<Admission>,
    account: AccountId,
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        if let Some(open) = counts.sessions.get_mut(&self.account) {
            *open -= 1;
            if *open == 0 {
                counts.sessions.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn unauthenticated_connections_have_a_lower_cap() {
        let a = Admission::new(3, 2, 8);
        let mut first = a.connect(ip("10.0.0.1")).unwrap();
        let _second = a.connect(ip("10.0.0.1")).unwrap();
        assert_eq!(a.connect(ip("10.0.0.1")).err(), Some(Full::Unauthenticated));
        assert!(
            a.connect(ip("10.0.0.2")).is_ok(),
            "other addresses unaffected"
        );
        first.authenticated();
        let _third = a.connect(ip("10.0.0.1")).unwrap();
        assert_eq!(a.connect(ip("10.0.0.1")).err(), Some(Full::Address));
        drop(first);
        assert!(
            a.connect(ip("10.0.0.1")).is_err(),
            "still 2 unauthenticated"
        );
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64_prefix() {
        let a = Admission::new(8, 2, 8);
        let _one = a.connect(ip("2001:db8:1:2::1")).unwrap();
        let _two = a.connect(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert_eq!(
            a.connect(ip("2001:db8:1:2:abcd::1")).err(),
            Some(Full::Unauthenticated),
            "another address of the same /64 is the same client"
        );
        assert!(a.connect(ip("2001:db8:1:3::1")).is_ok(), "another /64");
        assert_eq!(address_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
    }

    #[test]
    fn places_are_given_back() {
        let a = Admission::new(1, 1, 1);
        let mut c = a.connect(ip("::ffff:10.0.0.1")).unwrap();
        assert!(
            a.connect(ip("10.0.0.1")).is_err(),
            "mapped form is the same"
        );
        c.authenticated();
        let s = a.open_session(AccountId(1)).unwrap();
        assert!(a.open_session(AccountId(1)).is_none());
        drop((c, s));
        let counts = a.counts();
        assert!(counts.addresses.is_empty() && counts.sessions.is_empty());
    }
}

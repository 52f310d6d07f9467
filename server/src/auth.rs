//! Accounts and logins: argon2id password hashing (off the async executor),
//! the rules a new account must meet, login tokens, and the throttle that
//! slows password guessing per account and per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use natter_common::limits::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use natter_common::{Refusal, SessionToken, UserName};
use rand::RngCore;

/// Checks a requested name and password before an account is created.
pub fn check_new_account(name: &str, password: &str) -> Result<UserName, Refusal> {
    let name = UserName::parse(name).map_err(|e| Refusal::InvalidName(e.to_string()))?;
    check_password(password)?;
    Ok(name)
}

fn check_password(password: &str) -> Result<(), Refusal> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Refusal::PasswordTooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Refusal::WeakPassword {
            min_chars: MIN_PASSWORD_CHARS as u16,
        });
    }
    Ok(())
}

/// Hashes a password with argon2id and a random salt. CPU-heavy: runs on
/// the blocking pool.
pub async fn hash_password(password: String) -> Result<String, Refusal> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| Refusal::Internal)
    })
    .await
    .map_err(|_| Refusal::Internal)?
}

/// Checks a password against a stored hash, on the blocking pool.
pub async fn verify_password(password: String, hash: String) -> Result<bool, Refusal> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|_| Refusal::Internal)?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|_| Refusal::Internal)?
}

/// A fresh random login token and the hash under which it is stored.
pub fn new_token() -> (SessionToken, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = SessionToken(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// What the store keeps instead of the token itself, so a leaked database
/// does not hand out sessions.
pub fn token_hash(token: &SessionToken) -> [u8; 32] {
    *blake3::hash(&token.0).as_bytes()
}

/// Counts failed logins in a sliding one-minute window, per account name
/// and per client address, and refuses further attempts past the limits.
/// Memory is bounded: past `MAX_TRACKED` keys the oldest windows are swept.
pub struct LoginThrottle {
    per_account: u32,
    per_address: u32,
    state: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    accounts: HashMap<String, Window>,
    addresses: HashMap<IpAddr, Window>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

const WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 100_000;

impl LoginThrottle {
    pub fn new(per_account: u32, per_address: u32) -> Self {
        Self {
            per_account,
            per_address,
            state: Mutex::new(Windows::default()),
        }
    }

    /// Refuses the attempt if the account or the address is over its limit.
    pub fn check(&self, account: &str, address: IpAddr) -> Result<(), Refusal> {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let blocked = [
            state
                .accounts
                .get(&account.to_lowercase())
                .map(|w| (w, self.per_account)),
            state.addresses.get(&address).map(|w| (w, self.per_address)),
        ];
        for (window, limit) in blocked.into_iter().flatten() {
            let age = now.duration_since(window.started);
            if age < WINDOW && window.failures >= limit {
                let retry = (WINDOW - age).as_millis().max(1) as u32;
                return Err(Refusal::RateLimited {
                    retry_after_ms: retry,
                });
            }
        }
        Ok(())
    }

    /// Counts a failed attempt against both keys.
    pub fn failed(&self, account: &str, address: IpAddr) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        bump(&mut state.accounts, account.to_lowercase(), now);
        bump(&mut state.addresses, address, now);
    }

    /// Clears an account's failures after a successful login.
    pub fn succeeded(&self, account: &str) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.accounts.remove(&account.to_lowercase());
    }
}

fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Window>, key: K, now: Instant) {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, w| now.duration_since(w.started) < WINDOW);
    }
    if map.len() >= MAX_TRACKED {
        return; // Still full of live windows: an attack; refuse to grow.
    }
    let window = map.entry(key).or_insert(Window {
        started: now,
        failures: 0,
    });
    if now.duration_since(window.started) >= WINDOW {
        *window = Window {
            started: now,
            failures: 0,
        };
    }
    window.failures += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_accounts_follow_the_rules() {
        assert!(check_new_account("张伟", "long enough").is_ok());
        assert!(matches!(
            check_new_account("a b", "long enough"),
            Err(Refusal::InvalidName(_))
        ));
        assert!(matches!(
            check_new_account("ab", "short"),
            Err(Refusal::WeakPassword { .. })
        ));
        let huge = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(
            check_new_account("ab", &huge),
            Err(Refusal::PasswordTooLong)
        );
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), hash.clone())
            .await
            .unwrap());
        assert!(!verify_password("wrong horse".into(), hash).await.unwrap());
    }

    #[test]
    fn throttle_blocks_after_the_limit_and_per_account() {
        let throttle = LoginThrottle::new(2, 100);
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        throttle.failed("Bob", addr);
        assert!(throttle.check("bob", addr).is_ok());
        throttle.failed("bob", addr);
        assert!(matches!(
            throttle.check("BOB", addr),
            Err(Refusal::RateLimited { .. })
        ));
        assert!(throttle.check("carol", addr).is_ok());
        throttle.succeeded("bob");
        assert!(throttle.check("bob", addr).is_ok());
    }
}

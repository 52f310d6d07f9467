//! Accounts and logins: the rules a new account must meet, login tokens,
//! password hashing on a bounded pool ([`hashing`]), the throttles that
//! slow guessing and sign-ups ([`throttle`]), and the sign-up and password
//! login steps that use them ([`login`]).

pub mod hashing;
mod jobs;
pub mod login;
pub mod throttle;

use natter_common::limits::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use natter_common::{Refusal, SessionToken, UserName};
use rand::RngCore;

pub use hashing::Hasher;
pub use throttle::{LoginThrottle, SignUpThrottle};

/// Checks a requested name and password before an account is created.
pub fn check_new_account(name: &str, password: &str) -> Result<UserName, Refusal> {
    let name = check_name(name)?;
    check_password(password)?;
    Ok(name)
}

/// Parses a name a client sent: the only form in which a name may become
/// a lookup or throttle key, so a megabyte of garbage never does.
pub fn check_name(name: &str) -> Result<UserName, Refusal> {
    UserName::parse(name).map_err(|e| Refusal::InvalidName(e.to_string()))
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

    #[test]
    fn a_huge_name_is_refused_before_use() {
        let huge = "a".repeat(1 << 20);
        assert!(matches!(check_name(&huge), Err(Refusal::InvalidName(_))));
    }
}

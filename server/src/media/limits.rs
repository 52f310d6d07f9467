//! Turns for transfers: a server-wide number of uploads (and of downloads)
//! moving at once, of which each user may hold only a share, so one user
//! with many connections cannot take every turn.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::store::AccountId;

/// The turns for both directions.
pub struct TransferTurns {
    pub uploads: Turns,
    pub downloads: Turns,
}

impl TransferTurns {
    pub fn new(config: &Config) -> Self {
        Self {
            uploads: Turns::new(config.max_uploads, config.max_uploads_per_user),
            downloads: Turns::new(config.max_downloads, config.max_downloads_per_user),
        }
    }
}

/// Which limit a transfer waited on in vain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The user already holds their share.
    User(u32),
    /// The whole server is at its limit.
    Server(u32),
}

/// `total` turns, at most `per_user` of them held by one account.
pub struct Turns {
    total: u32,
    per_user: u32,
    all: Arc<Semaphore>,
    users: Arc<Mutex<HashMap<AccountId, Arc<Semaphore>>>>,
}

impl Turns {
    pub fn new(total: u32, per_user: u32) -> Self {
        let total = total.max(1);
        Self {
            total,
            per_user: per_user.clamp(1, total),
            all: Arc::new(Semaphore::new(total as usize)),
            users: Arc::default(),
        }
    }

    /// Waits up to `wait` for a turn: first one of the user's share, then
    /// one of the server's.
    pub async fn take(&self, account: AccountId, wait: Duration) -> Result<Turn, Full> {
        let deadline = tokio::time::Instant::now() + wait;
        let mine = tokio::time::timeout_at(deadline, self.share(account).acquire_owned())
            .await
            .ok()
            .and_then(Result::ok);
        // Built at once so that any way out gives back what was taken.
        let mut turn = Turn {
            account,
            users: self.users.clone(),
            mine,
            all: None,
        };
        if turn.mine.is_none() {
            return Err(Full::User(self.per_user));
        }
        turn.all = tokio::time::timeout_at(deadline, self.all.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok);
        if turn.all.is_none() {
            return Err(Full::Server(self.total));
        }
        Ok(turn)
    }

    fn share(&self, account: AccountId) -> Arc<Semaphore> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users
            .entry(account)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_user as usize)))
            .clone()
    }
}

/// A held turn; given back when dropped. The user's entry goes with their
/// last turn, so the table holds only users who are transferring.
pub struct Turn {
    account: AccountId,
    users: Arc<Mutex<HashMap<AccountId, Arc<Semaphore>>>>,
    mine: Option<OwnedSemaphorePermit>,
    all: Option<OwnedSemaphorePermit>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.all.take());
        drop(self.mine.take());
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        // Only the table holds it: nobody has or waits for this user's turns.
        if users
            .get(&self.account)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            users.remove(&self.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::ZERO;

    #[tokio::test]
    async fn one_user_holds_at_most_their_share() {
        let turns = Turns::new(4, 2);
        let (a, b) = (AccountId(1), AccountId(2));
        let held = [
            turns.take(a, NOW).await.unwrap(),
            turns.take(a, NOW).await.unwrap(),
        ];
        assert_eq!(turns.take(a, NOW).await.err(), Some(Full::User(2)));
        let others = [
            turns.take(b, NOW).await.unwrap(),
            turns.take(b, NOW).await.unwrap(),
        ];
        assert_eq!(
            turns.take(AccountId(3), NOW).await.err(),
            Some(Full::Server(4))
        );
        drop(held);
        turns.take(a, NOW).await.unwrap();
        drop(others);
        assert!(
            turns.users.lock().unwrap().is_empty(),
            "idle users are forgotten"
        );
    }

    #[tokio::test]
    async fn a_waiting_turn_goes_on_when_one_is_given_back() {
        let turns = Arc::new(Turns::new(1, 1));
        let held = turns.take(AccountId(1), NOW).await.unwrap();
        let waiter = tokio::spawn({
            let turns = turns.clone();
            async move {
                turns
                    .take(AccountId(2), Duration::from_secs(30))
                    .await
                    .is_ok()
            }
        });
        drop(held);
        assert!(waiter.await.unwrap());
    }
}

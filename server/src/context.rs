//! The state every session shares, built once from the settings: the
//! store, the hub, the throttles and the hashing pool, the connection
//! counts, the blob directory and its transfer turns, the send rates.
//!
//! Handlers take a `&Context`; the listener hands each session a
//! [`Shared`] clone. Every part guards itself (a std `Mutex` is never held
//! across an `.await`), so the context needs no lock of its own.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::admission::Admission;
use crate::auth::hashing::Hasher;
use crate::auth::throttle::{LoginThrottle, SignUpThrottle};
use crate::commit::Committer;
use crate::config::Config;
use crate::hub::{Fanout, Hub};
use crate::media::disk::BlobDir;
use crate::media::limits::TransferTurns;
use crate::send_rate::SendRate;
use crate::store::Blocking;

/// What all sessions share.
pub struct Context {
    pub config: Config,
    pub store: Blocking,
    pub hub: Arc<dyn Fanout>,
    pub throttle: LoginThrottle,
    /// Sign-ups per address per hour.
    pub sign_ups: SignUpThrottle,
    /// The bounded pool every password hash runs on.
    pub hasher: Hasher,
    /// Connections per address and sessions per account.
    pub admission: Arc<Admission>,
    pub blobs: BlobDir,
    /// Turns for uploads and downloads, server-wide and per user: bound
    /// transfer buffers.
    pub turns: TransferTurns,
    /// Each account's send rate: see [`crate::send_rate`].
    pub send_rate: SendRate,
    /// Stores sent messages in groups and publishes them: see
    /// [`crate::commit`].
    pub committer: Committer,
}

/// State every session shares, behind one cloneable handle.
pub type Shared = Arc<Context>;

impl Context {
    /// Sizes every part from `config` around an opened store and blob
    /// directory, and starts the hashing workers.
    pub fn start(config: Config, store: Blocking, blobs: BlobDir) -> anyhow::Result<Shared> {
        let hasher = Hasher::new(
            config.hash_workers,
            Duration::from_secs(config.hash_wait_secs),
        )
        .context("starting the password hashing workers")?;
        let hub: Arc<dyn Fanout> = Arc::new(Hub::new(config.session_queue));
        let committer = Committer::start(store.0.clone(), hub.clone())
            .context("starting the message committer")?;
        Ok(Arc::new(Context {
            blobs,
            store,
            hub,
            throttle: LoginThrottle::new(
                config.login_failures_per_account,
                config.login_failures_per_address,
            ),
            sign_ups: SignUpThrottle::new(config.registrations_per_address_per_hour),
            hasher,
            admission: Admission::new(
                config.max_connections_per_address,
                config.max_unauthenticated_per_address,
                config.max_sessions_per_account,
            ),
            send_rate: SendRate::new(config.messages_per_sec, config.message_burst),
            committer,
            turns: TransferTurns::new(&config),
            config,
        }))
    }
}

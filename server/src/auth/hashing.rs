//! Password hashing on a fixed pool of worker threads: at most `workers`
//! argon2id runs at once, each worker reuses one memory block for every
//! hash (so memory stays flat however many logins come) and gives it back
//! to the system once no login came for [`RELEASE_AFTER`], and a request
//! that gets no worker within the wait is refused as busy. Database calls
//! use tokio's blocking pool and never queue behind a hash.
//!
//! Each client address may have only a share of the workers' turns queued
//! or running at once (half of them, at least one): a login that succeeds
//! is not a guess and is not throttled, so without the share one address
//! with an account of its own could keep the whole queue full and every
//! other login would wait behind it until refused as busy.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use natter_common::limits::MAX_PASSWORD_BYTES;
use natter_common::Refusal;
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::jobs::{Jobs, Next};

/// The most argon2 memory a stored hash may ask for, in 1 KiB blocks: a
/// hash with higher costs is refused instead of allocated.
const MAX_BLOCKS: usize = 256 * 1024;

/// A worker that had no job for this long gives its memory back: 19 MiB
/// each with the default costs. A burst of logins (a room reconnecting
/// after a restart) reuses it; the first login after a quiet spell maps it
/// again, a few milliseconds beside the hash's tens.
pub const RELEASE_AFTER: Duration = Duration::from_secs(5);

/// A worker's memory is reserved with at least this capacity (33 MiB,
/// only the part a hash uses is ever touched), so that glibc maps it
/// straight from the system and unmaps it when it is freed: its mmap
/// threshold rises with every large free but never above 32 MiB, so a
/// 19 MiB block freed once would come from the heap the next time and
/// stay there when freed again.
const MAPPED_BLOCKS: usize = 33 * 1024;

/// The hashing pool. Dropping it stops its workers once they finish.
pub struct Hasher {
    jobs: Arc<Jobs<Job>>,
    /// One turn per worker: a job is only queued once a worker is free for
    /// it, so the wait for a turn is the whole queueing delay.
    turns: Arc<Semaphore>,
    wait: Duration,
    workers: usize,
    /// Turns one address may hold at once, queued or running.
    per_address: usize,
    /// Each address's share; an entry lives only while a request of that
    /// address holds or waits for it, so the table never holds more
    /// entries than there are connections.
    shares: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
    /// Bytes of argon2 memory the workers hold now.
    held: Arc<watch::Sender<usize>>,
}

impl Drop for Hasher {
    fn drop(&mut self) {
        self.jobs.close();
    }
}

enum Work {
    Hash(String),
    Verify { password: String, hash: String },
}

enum Done {
    Hashed(String),
    Verified(bool),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, Refusal>>,
    /// Released when the worker is done with the job.
    _turn: OwnedSemaphorePermit,
    /// Its address's share, released after the turn.
    _share: AddressTurn,
}

/// One of an address's turns; its table entry goes with the address's last.
struct AddressTurn {
    address: IpAddr,
    shares: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for AddressTurn {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        // Only the table holds it: nobody from this address holds or waits.
        if shares
            .get(&self.address)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            shares.remove(&self.address);
        }
    }
}

impl Hasher {
    /// Starts `workers` threads (0: one per CPU core). A request waits at
    /// most `wait` for one of them.
    pub fn new(workers: usize, wait: Duration) -> std::io::Result<Self> {
        Self::releasing_after(workers, wait, RELEASE_AFTER)
    }

    /// [`Hasher::new`] whose idle workers give their memory back after
    /// `release_after` instead of [`RELEASE_AFTER`].
    pub(crate) fn releasing_after(
        workers: usize,
        wait: Duration,
        release_after: Duration,
    ) -> std::io::Result<Self> {
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let jobs = Arc::new(Jobs::new());
        let held = Arc::new(watch::Sender::new(0));
        for i in 0..workers {
            let (jobs, held) = (jobs.clone(), held.clone());
            std::thread::Builder::new()
                .name(format!("natter-hash-{i}"))
                .spawn(move || serve(&jobs, &held, release_after))?;
        }
        Ok(Self {
            jobs,
            turns: Arc::new(Semaphore::new(workers)),
            wait,
            workers,
            per_address: (workers / 2).max(1),
            shares: Arc::default(),
            held,
        })
    }

    /// Watches how many bytes of argon2 memory the workers hold.
    pub fn memory_held(&self) -> watch::Receiver<usize> {
        self.held.subscribe()
    }

    /// How many hashes may run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Hashes a new password with argon2id and a random salt (PHC string),
    /// for a client at `address`.
    pub async fn hash(&self, address: IpAddr, password: String) -> Result<String, Refusal> {
        match self.run(address, Work::Hash(password)).await? {
            Done::Hashed(hash) => Ok(hash),
            Done::Verified(_) => Err(Refusal::Internal),
        }
    }

    /// Whether `password`, sent from `address`, matches a stored PHC hash.
    pub async fn verify(
        &self,
        address: IpAddr,
        password: String,
        hash: String,
    ) -> Result<bool, Refusal> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        match self.run(address, Work::Verify { password, hash }).await? {
            Done::Verified(ok) => Ok(ok),
            Done::Hashed(_) => Err(Refusal::Internal),
        }
    }

    /// Waits (at most `wait` in all) for one of the address's turns, then
    /// for a worker's, and runs `work`.
    async fn run(&self, address: IpAddr, work: Work) -> Result<Done, Refusal> {
        let busy = || Refusal::Busy("too many logins at once: try again shortly".into());
        let deadline = tokio::time::Instant::now() + self.wait;
        // Built before waiting, so that any way out gives the share back.
        let mut share = AddressTurn {
            address: crate::admission::address_key(address),
            shares: self.shares.clone(),
            permit: None,
        };
        let mine = self.share(share.address);
        share.permit = Some(
            tokio::time::timeout_at(deadline, mine.acquire_owned())
                .await
                .map_err(|_| busy())?
                .map_err(|_| Refusal::Internal)?,
        );
        let turn = match self.turns.clone().try_acquire_owned() {
            Ok(turn) => turn,
            Err(_) => tokio::time::timeout_at(deadline, self.turns.clone().acquire_owned())
                .await
                .map_err(|_| busy())?
                .map_err(|_| Refusal::Internal)?,
        };
        let (reply, answer) = oneshot::channel();
        self.jobs
            .push(Job {
                work,
                reply,
                _turn: turn,
                _share: share,
            })
            .map_err(|_| Refusal::Internal)?;
        answer.await.map_err(|_| Refusal::Internal)?
    }

    /// The semaphore of `address`'s share, created with its first request.
    fn share(&self, address: IpAddr) -> Arc<Semaphore> {
        let mut shares = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        shares
            .entry(address)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_address)))
            .clone()
    }
}

/// One worker: takes jobs until the pool is dropped, hashing in the same
/// memory every time, and gives the memory back when it idles.
fn serve(jobs: &Jobs<Job>, held: &watch::Sender<usize>, release_after: Duration) {
    lower_priority();
    let mut memory = Vec::new();
    loop {
        // With nothing to give back, nothing to wake up for.
        let idle = if memory.is_empty() {
            Duration::MAX
        } else {
            release_after
        };
        let job = match jobs.next(idle) {
            Next::Job(job) => job,
            Next::Idle => {
                track(held, memory.len(), 0);
                memory = Vec::new();
                continue;
            }
            Next::Closed => return,
        };
        let before = memory.len();
        let Job {
            work,
            reply,
            _turn: turn,
            _share: share,
        } = job;
        let done = match work {
            Work::Hash(password) => hash(password.as_bytes(), &mut memory).map(Done::Hashed),
            Work::Verify { password, hash } => {
                verify(password.as_bytes(), &hash, &mut memory).map(Done::Verified)
            }
        };
        track(held, before, memory.len());
        // The turns go back before the answer, so whoever gets the answer
        // may queue again at once.
        drop((turn, share));
        let _ = reply.send(done);
    }
}

/// Updates `held` for a worker whose memory went from `before` blocks to
/// `after` (what a hash touched, which is what stays resident).
fn track(held: &watch::Sender<usize>, before: usize, after: usize) {
    let size = std::mem::size_of::<Block>();
    if before != after {
        held.send_modify(|h| *h = *h + after * size - before * size);
    }
}

/// How much less CPU priority a hashing worker has than the rest of the
/// server (nice levels): a login storm then takes what the sessions leave,
/// and chat stays instant while a thousand passwords are checked.
const HASHING_NICENESS: i32 = 10;

/// Lowers this thread's priority by [`HASHING_NICENESS`]. On Linux a
/// nice level is per thread; elsewhere this may lower the whole process,
/// so it is done only on Linux.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let lowered = getpriority_process(None).map(|now| (now + HASHING_NICENESS).min(19));
        if let Err(e) = lowered.and_then(|nice| setpriority_process(None, nice)) {
            tracing::debug!(error = %e, "hashing at the server's own priority");
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    tracing::error!(error = %e, "password hashing failed");
    Refusal::Internal
}

/// The worker's memory, grown (never shrunk while it works) to what
/// `params` needs, and reserved so that it is mapped ([`MAPPED_BLOCKS`]).
fn blocks<'m>(memory: &'m mut Vec<Block>, params: &Params) -> Result<&'m mut [Block], Refusal> {
    let needed = params.block_count();
    if needed > MAX_BLOCKS {
        return Err(internal(format!("a hash asks for {needed} KiB of memory")));
    }
    if memory.capacity() < needed {
        *memory = Vec::with_capacity(needed.max(MAPPED_BLOCKS));
    }
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    Ok(&mut memory[..needed])
}

fn hash(password: &[u8], memory: &mut Vec<Block>) -> Result<String, Refusal> {
    let params = Params::default();
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(internal)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt_bytes, &mut out, blocks(memory, &params)?)
        .map_err(internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(internal)?),
    };
    Ok(phc.to_string())
}

fn verify(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> Result<bool, Refusal> {
    let parsed = PasswordHash::new(phc).map_err(internal)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(internal)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(internal)?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(internal)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(internal("a stored hash has no salt or no output"));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(internal)?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password, salt_bytes, &mut out, blocks(memory, &params)?)
        .map_err(internal)?;
    // Output's equality is constant-time.
    Ok(Output::new(&out).map_err(internal)? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The nice levels of this process's threads called `name` (other
    /// tests may run pools of their own).
    #[cfg(target_os = "linux")]
    fn nice_of_threads(name: &str) -> Vec<i64> {
        let tasks = std::fs::read_dir("/proc/thread-self/..").unwrap();
        tasks
            .filter_map(|task| {
                let dir = task.ok()?.path();
                let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
                if comm.trim() != name {
                    return None;
                }
                let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
                // Fields after the command's closing parenthesis; nice is 19th.
                let after = &stat[stat.rfind(')')? + 2..];
                after.split(' ').nth(16)?.parse().ok()
            })
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_workers_run_below_the_rest_of_the_server() {
        let pool = Hasher::new(1, Duration::from_secs(5)).unwrap();
        // The worker lowers itself before its first job: once one is
        // done, its level is settled.
        pool.hash(ip("10.0.0.1"), "x".into()).await.unwrap();
        let own = rustix::process::getpriority_process(None).unwrap();
        let expected = (own + HASHING_NICENESS).min(19);
        let levels = nice_of_threads("natter-hash-0");
        assert!(
            levels.contains(&i64::from(expected)),
            "{levels:?}, own {own}"
        );
    }

    /// A worker holds its 19 MiB only while logins come: idle, it gives
    /// them back, and the next login maps them again.
    #[tokio::test]
    async fn an_idle_worker_gives_its_memory_back() {
        let pool =
            Hasher::releasing_after(1, Duration::from_secs(5), Duration::from_secs(1)).unwrap();
        let mut held = pool.memory_held();
        let block = Params::default().block_count() * std::mem::size_of::<Block>();
        for _ in 0..2 {
            let hash = pool.hash(ip("10.0.0.1"), "correct horse".into()).await;
            let hash = hash.unwrap();
            assert_eq!(*held.borrow_and_update(), block, "held while it works");
            let given_back = held.wait_for(|&bytes| bytes == 0);
            tokio::time::timeout(Duration::from_secs(10), given_back)
                .await
                .expect("the idle worker kept its memory")
                .unwrap();
            let right = pool.verify(ip("10.0.0.1"), "correct horse".into(), hash);
            assert!(
                right.await.unwrap(),
                "a login after the release still works"
            );
            held.wait_for(|&bytes| bytes == 0).await.unwrap();
        }
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let pool = Hasher::new(1, Duration::from_secs(5)).unwrap();
        let hash = pool
            .hash(ip("10.0.0.1"), "correct horse".into())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(pool
            .verify(ip("10.0.0.1"), "correct horse".into(), hash.clone())
            .await
            .unwrap());
        assert!(!pool
            .verify(ip("10.0.0.1"), "wrong horse".into(), hash)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn pool_hashes_are_standard_phc_both_ways() {
        let pool = Hasher::new(1, Duration::from_secs(5)).unwrap();
        let ours = pool
            .hash(ip("10.0.0.1"), "correct horse".into())
            .await
            .unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(pool
            .verify(ip("10.0.0.1"), "battery staple".into(), theirs)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_request_that_gets_no_worker_in_time_is_busy() {
        let pool = Hasher::new(1, Duration::ZERO).unwrap();
        let held = pool.turns.clone().acquire_owned().await.unwrap();
        assert!(matches!(
            pool.hash(ip("10.0.0.1"), "correct horse".into()).await,
            Err(Refusal::Busy(_))
        ));
        drop(held);
        assert!(pool
            .hash(ip("10.0.0.1"), "correct horse".into())
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn an_address_gets_only_its_share_of_the_workers() {
        let pool = Hasher::new(2, Duration::ZERO).unwrap();
        assert_eq!(pool.per_address, 1);
        let held = pool.share(ip("10.0.0.1")).acquire_owned().await.unwrap();
        assert!(matches!(
            pool.hash(ip("::ffff:10.0.0.1"), "correct horse".into())
                .await,
            Err(Refusal::Busy(_))
        ));
        assert!(pool
            .hash(ip("10.0.0.2"), "correct horse".into())
            .await
            .is_ok());
        drop(held);
        assert!(pool
            .hash(ip("10.0.0.1"), "correct horse".into())
            .await
            .is_ok());
        assert!(pool.shares.lock().unwrap().is_empty(), "entries go");
    }
}

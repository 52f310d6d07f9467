//! One task per connection: the hello, the login, then the session loop that
//! serves the control stream and passes on what the hub queues for it.
//!
//! Everything the client sends is bounded: the whole login must finish
//! within the auth timeout and in a few attempts, frames are size-checked
//! by the codec, and a protocol violation closes only this connection.

use std::net::SocketAddr;
use std::time::Duration;

use natter_common::codec::{self, FrameError, FrameReader};
use natter_common::limits::{MAX_CATCH_UP, MAX_DETAIL_CHARS, MAX_HISTORY_PAGE};
use natter_common::protocol::close;
use natter_common::{
    ClientMsg, Hello, Limits, MessageId, Refusal, ServerMsg, SessionToken, Timestamp,
    PROTOCOL_VERSION,
};
use quinn::{RecvStream, SendStream, VarInt};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use crate::auth::{self, LoginThrottle};
use crate::config::Config;
use crate::hub::{Fanout, Outbound};
use crate::router;
use crate::store::{Account, Blocking};

/// What all sessions share.
pub struct Context {
    pub config: Config,
    pub store: Blocking,
    pub hub: Box<dyn Fanout>,
    pub throttle: LoginThrottle,
    pub blobs: crate::media::BlobDir,
    /// Turns for uploads and downloads, server-wide and per user: bound
    /// transfer buffers.
    pub turns: crate::media::TransferTurns,
    /// Held while a message is stored and published: see [`crate::router`].
    pub sequencer: tokio::sync::Mutex<()>,
}

/// Login attempts (register, login, resume) one connection may make.
const MAX_AUTH_ATTEMPTS: u32 = 5;
/// How long the server waits for a client to read what it was sent before
/// counting it as too slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const SOFTWARE: &str = concat!("natter-server ", env!("CARGO_PKG_VERSION"));

/// Why a session ended, and how to tell the client.
struct Close {
    code: u32,
    reason: String,
}

impl Close {
    fn new(code: u32, reason: impl Into<String>) -> Self {
        let mut reason: String = reason.into();
        if reason.chars().count() > MAX_DETAIL_CHARS {
            reason = reason.chars().take(MAX_DETAIL_CHARS).collect();
        }
        Self { code, reason }
    }

    fn violation(e: impl std::fmt::Display) -> Self {
        Self::new(close::PROTOCOL_VIOLATION, e.to_string())
    }

    /// Maps a frame error: a broken peer is a violation, a lost connection
    /// needs no close at all (code NORMAL with an empty reason).
    fn from_frame(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) => Self::new(close::NORMAL, format!("connection lost: {e}")),
            other => Self::violation(other),
        }
    }
}

/// Serves one incoming connection until it ends or `shutdown` fires.
pub async fn serve(ctx: crate::Shared, incoming: quinn::Incoming, shutdown: CancellationToken) {
    let remote = incoming.remote_address();
    let span = tracing::info_span!("session", %remote, user = tracing::field::Empty);
    async move {
        let connection = match incoming.await {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "handshake failed");
                return;
            }
        };
        let outcome = run(&ctx, &connection, remote, &shutdown).await;
        if outcome.code == close::NORMAL && outcome.reason.starts_with("connection lost") {
            debug!(reason = %outcome.reason, "session ended");
        } else {
            info!(code = outcome.code, reason = %outcome.reason, "closing session");
        }
        connection.close(VarInt::from_u32(outcome.code), outcome.reason.as_bytes());
    }
    .instrument(span)
    .await
}

async fn run(
    ctx: &crate::Shared,
    connection: &quinn::Connection,
    remote: SocketAddr,
    shutdown: &CancellationToken,
) -> Close {
    let deadline = Instant::now() + ctx.config.auth_timeout();
    let auth_timeout = || {
        Close::new(
            close::AUTH_TIMEOUT,
            format!("not logged in within {} s", ctx.config.auth_timeout_secs),
        )
    };
    let (mut send, recv) = tokio::select! {
        _ = shutdown.cancelled() => return Close::new(close::SHUTDOWN, "server shutting down"),
        r = timeout_at(deadline, connection.accept_bi()) => match r {
            Err(_) => return auth_timeout(),
            Ok(Err(e)) => return Close::new(close::NORMAL, format!("connection lost: {e}")),
            Ok(Ok(streams)) => streams,
        },
    };
    // The control stream goes ahead of any transfer data.
    let _ = send.set_priority(10);
    let mut reader = FrameReader::new(recv);

    match timeout_at(deadline, hello(&mut send, &mut reader)).await {
        Err(_) => return auth_timeout(),
        Ok(Err(close)) => return close,
        Ok(Ok(())) => {}
    }

    let login = tokio::select! {
        _ = shutdown.cancelled() => return Close::new(close::SHUTDOWN, "server shutting down"),
        r = timeout_at(deadline, authenticate(ctx, &mut send, &mut reader, remote)) => match r {
            Err(_) => return auth_timeout(),
            Ok(Err(close)) => return close,
            Ok(Ok(login)) => login,
        },
    };
    tracing::Span::current().record("user", login.account.name.as_str());
    info!("logged in");

    let mut session = Session {
        ctx,
        connection,
        send,
        login,
        last_replayed: None,
        transfers: tokio::task::JoinSet::new(),
        kicked: CancellationToken::new(),
    };
    let close = session.serve(reader, shutdown).await;
    info!("logged out");
    // Close first so transfers see the end of their streams, flush what
    // they received (a resume continues from it) and finish by themselves.
    connection.close(VarInt::from_u32(close.code), close.reason.as_bytes());
    let drain = async { while session.transfers.join_next().await.is_some() {} };
    let _ = timeout(Duration::from_secs(5), drain).await;
    close
}

/// Reads the hello, checks the version first, answers Welcome.
async fn hello(send: &mut SendStream, reader: &mut FrameReader<RecvStream>) -> Result<(), Close> {
    // The hello is the only frame read undecoded: its version must be
    // readable even if the rest of a newer client's hello is not.
    let payload = match reader.read_raw().await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(Close::new(close::NORMAL, "connection lost: no hello")),
        Err(e) => return Err(Close::from_frame(e)),
    };
    let version = codec::hello_version(&payload).map_err(Close::violation)?;
    if version != PROTOCOL_VERSION {
        let refusal = Refusal::VersionMismatch {
            server: PROTOCOL_VERSION,
            client: version,
        };
        let _ = write(send, &ServerMsg::Refused(refusal.clone())).await;
        // Closing discards unsent stream data: let the refusal arrive first.
        let _ = send.finish();
        let _ = timeout(Duration::from_secs(2), send.stopped()).await;
        return Err(Close::new(close::PROTOCOL_VIOLATION, refusal.to_string()));
    }
    let hello: Hello = codec::decode_payload(&payload).map_err(Close::violation)?;
    debug!(software = %hello.software, "hello");
    write(
        send,
        &ServerMsg::Welcome {
            version: PROTOCOL_VERSION,
            software: SOFTWARE.into(),
        },
    )
    .await
}

/// An authenticated session's identity.
struct Login {
    account: Account,
    token_hash: [u8; 32],
    since: Option<MessageId>,
}

/// Serves Register / Login / Resume until a login succeeds.
async fn authenticate(
    ctx: &Context,
    send: &mut SendStream,
    reader: &mut FrameReader<RecvStream>,
    remote: SocketAddr,
) -> Result<Login, Close> {
    let mut attempts = 0;
    loop {
        let msg = match reader.read::<ClientMsg>().await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(Close::new(
                    close::NORMAL,
                    "connection lost: left before login",
                ))
            }
            Err(e) => return Err(Close::from_frame(e)),
        };
        if matches!(
            msg,
            ClientMsg::Register { .. } | ClientMsg::Login { .. } | ClientMsg::Resume { .. }
        ) {
            attempts += 1;
            if attempts > MAX_AUTH_ATTEMPTS {
                return Err(Close::violation(
                    "too many login attempts on one connection",
                ));
            }
        }
        let answer = match msg {
            ClientMsg::Register { name, password } => match register(ctx, &name, password).await {
                Ok(user) => ServerMsg::Registered { user },
                Err(refusal) => ServerMsg::Refused(refusal),
            },
            ClientMsg::Login {
                name,
                password,
                since,
            } => match login(ctx, &name, password, remote).await {
                Ok(account) => return start(ctx, send, account, since).await,
                Err(refusal) => ServerMsg::Refused(refusal),
            },
            ClientMsg::Resume { token, since } => match resume(ctx, &token).await {
                Ok(account) => {
                    let hash = auth::token_hash(&token);
                    return logged_in(ctx, send, account, token, hash, since).await;
                }
                Err(refusal) => ServerMsg::Refused(refusal),
            },
            ClientMsg::Ping { nonce } => ServerMsg::Pong { nonce },
            ClientMsg::Logout | ClientMsg::LogoutEverywhere => {
                return Err(Close::new(close::NORMAL, "logged out"))
            }
            ClientMsg::Send { client_id, .. } => ServerMsg::Rejected {
                client_id,
                reason: Refusal::NotAuthenticated,
            },
            ClientMsg::History { .. } => ServerMsg::Refused(Refusal::NotAuthenticated),
        };
        write(send, &answer).await?;
    }
}

async fn register(
    ctx: &Context,
    name: &str,
    password: String,
) -> Result<natter_common::UserName, Refusal> {
    let name = auth::check_new_account(name, &password)?;
    let hash = auth::hash_password(password).await?;
    let for_store = name.clone();
    match ctx
        .store
        .call(move |s| s.create_account(&for_store, &hash))
        .await
    {
        Ok(account) => {
            info!(user = %account.name, "registered");
            Ok(account.name)
        }
        Err(crate::store::StoreError::NameTaken) => Err(Refusal::NameTaken(name.to_string())),
        Err(e) => {
            tracing::error!(error = %e, "store failed");
            Err(Refusal::Internal)
        }
    }
}

async fn login(
    ctx: &Context,
    name: &str,
    password: String,
    remote: SocketAddr,
) -> Result<Account, Refusal> {
    ctx.throttle.check(name, remote.ip())?;
    let key = name.to_owned();
    let account = ctx
        .store
        .call(move |s| s.account(&key))
        .await
        .map_err(|_| Refusal::Internal)?;
    let Some(account) = account else {
        ctx.throttle.failed(name, remote.ip());
        return Err(Refusal::UnknownUser(name.chars().take(64).collect()));
    };
    if auth::verify_password(password, account.password_hash.clone()).await? {
        ctx.throttle.succeeded(name);
        Ok(account)
    } else {
        ctx.throttle.failed(name, remote.ip());
        warn!(user = %account.name, %remote, "wrong password");
        Err(Refusal::WrongPassword)
    }
}

async fn resume(ctx: &Context, token: &SessionToken) -> Result<Account, Refusal> {
    let hash = auth::token_hash(token);
    ctx.store
        .call(move |s| s.token_account(hash, Timestamp::now()))
        .await
        .map_err(|_| Refusal::Internal)?
        .ok_or(Refusal::InvalidSession)
}

/// Issues a fresh token for a password login.
async fn start(
    ctx: &Context,
    send: &mut SendStream,
    account: Account,
    since: Option<MessageId>,
) -> Result<Login, Close> {
    let (token, hash) = auth::new_token();
    let expires = Timestamp(Timestamp::now().0 + i64::from(ctx.config.token_days) * 86_400_000);
    let id = account.id;
    ctx.store
        .call(move |s| s.save_token(id, hash, expires))
        .await
        .map_err(|e| Close::new(close::NORMAL, format!("store failed: {e}")))?;
    logged_in(ctx, send, account, token, hash, since).await
}

async fn logged_in(
    ctx: &Context,
    send: &mut SendStream,
    account: Account,
    token: SessionToken,
    token_hash: [u8; 32],
    since: Option<MessageId>,
) -> Result<Login, Close> {
    let id = account.id;
    let used_bytes = ctx.store.call(move |s| s.used_bytes(id)).await.unwrap_or(0);
    let limits = Limits {
        max_text_chars: ctx.config.max_text_chars,
        max_upload_bytes: ctx.config.max_upload_bytes,
        quota_bytes: ctx.config.quota_bytes,
        used_bytes,
    };
    write(
        send,
        &ServerMsg::LoggedIn {
            user: account.name.clone(),
            token,
            limits,
        },
    )
    .await?;
    Ok(Login {
        account,
        token_hash,
        since,
    })
}

/// A logged-in session.
struct Session<'a> {
    ctx: &'a crate::Shared,
    connection: &'a quinn::Connection,
    send: SendStream,
    /// Transfer streams in flight; aborted when the session ends.
    transfers: tokio::task::JoinSet<()>,
    /// The hub's kick for this session: also interrupts a blocked write.
    kicked: CancellationToken,
    login: Login,
    /// The newest message sent in the replay after login; live copies of
    /// messages up to it are skipped.
    last_replayed: Option<MessageId>,
}

impl Session<'_> {
    async fn serve(
        &mut self,
        mut reader: FrameReader<RecvStream>,
        shutdown: &CancellationToken,
    ) -> Close {
        // Join before reading history: anything stored from now on is in
        // the queue, anything before is in the replay; overlaps are skipped.
        let mut sub = self.ctx.hub.join(&self.login.account.name);
        self.kicked = sub.kicked.clone();
        let close = match self.welcome(sub.online.clone()).await {
            Ok(()) => self.run(&mut reader, &mut sub, shutdown).await,
            Err(close) => close,
        };
        self.ctx.hub.leave(sub.id);
        close
    }

    async fn welcome(&mut self, online: Vec<natter_common::UserName>) -> Result<(), Close> {
        self.write(&ServerMsg::Online { users: online }).await?;
        let viewer = self.login.account.clone();
        let since = self.login.since;
        let missed = self
            .ctx
            .store
            .call(move |s| s.missed(&viewer, since, MAX_CATCH_UP))
            .await
            .map_err(|e| Close::new(close::NORMAL, format!("store failed: {e}")))?;
        let latest = missed.messages.last().map(|m| m.id).or(since);
        for message in missed.messages {
            self.write(&ServerMsg::Message(message)).await?;
        }
        self.last_replayed = latest;
        write(
            &mut self.send,
            &ServerMsg::CaughtUp {
                latest,
                truncated: missed.more,
            },
        )
        .await
    }

    async fn run(
        &mut self,
        reader: &mut FrameReader<RecvStream>,
        sub: &mut crate::hub::Subscription,
        shutdown: &CancellationToken,
    ) -> Close {
        loop {
            let step = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Close::new(close::SHUTDOWN, "server shutting down"),
                _ = sub.kicked.cancelled() => return too_slow(),
                out = sub.rx.recv() => match out {
                    Some(out) => self.pass_on(out).await,
                    None => return too_slow(),
                },
                stream = self.connection.accept_bi() => match stream {
                    Ok((send, recv)) => {
                        let (ctx, account) = (self.ctx.clone(), self.login.account.clone());
                        self.transfers.spawn(async move {
                            crate::media::serve(&ctx, &account, send, recv).await;
                        }.in_current_span());
                        Ok(())
                    }
                    Err(e) => return Close::new(close::NORMAL, format!("connection lost: {e}")),
                },
                Some(_) = self.transfers.join_next() => Ok(()),
                msg = reader.read::<ClientMsg>() => match msg {
                    Ok(Some(msg)) => self.handle(msg).await,
                    Ok(None) => return Close::new(close::NORMAL, "client closed the control stream"),
                    Err(e) => return Close::from_frame(e),
                },
            };
            if let Err(close) = step {
                return close;
            }
        }
    }

    /// Writes one frame, giving up at once if the hub kicks this session
    /// while the write waits on a client that does not read.
    async fn write(&mut self, msg: &ServerMsg) -> Result<(), Close> {
        tokio::select! {
            biased;
            _ = self.kicked.cancelled() => Err(too_slow()),
            r = write(&mut self.send, msg) => r,
        }
    }

    async fn pass_on(&mut self, out: Outbound) -> Result<(), Close> {
        let msg = match out {
            Outbound::Message(m) => {
                if self.last_replayed.is_some_and(|last| m.id <= last) {
                    return Ok(());
                }
                ServerMsg::Message((*m).clone())
            }
            Outbound::Joined(user) => ServerMsg::Joined { user },
            Outbound::Left(user) => ServerMsg::Left { user },
        };
        self.write(&msg).await
    }

    async fn handle(&mut self, msg: ClientMsg) -> Result<(), Close> {
        let answer = match msg {
            ClientMsg::Send {
                client_id,
                to,
                content,
            } => match router::send(self.ctx, &self.login.account, client_id, to, content).await {
                Ok(stored) => ServerMsg::Accepted {
                    client_id,
                    id: stored.message.id,
                    sent_at: stored.message.sent_at,
                },
                Err(reason) => ServerMsg::Rejected { client_id, reason },
            },
            ClientMsg::History {
                request,
                conversation,
                before,
                limit,
            } => {
                let viewer = self.login.account.clone();
                let limit = limit.clamp(1, MAX_HISTORY_PAGE);
                let wanted = conversation.clone();
                match self
                    .ctx
                    .store
                    .call(move |s| s.history(&viewer, &wanted, before, limit))
                    .await
                {
                    Ok(page) => ServerMsg::History {
                        request,
                        conversation,
                        messages: page.messages,
                        more: page.more,
                    },
                    Err(_) => ServerMsg::Refused(Refusal::Internal),
                }
            }
            ClientMsg::Ping { nonce } => ServerMsg::Pong { nonce },
            ClientMsg::Logout | ClientMsg::LogoutEverywhere => {
                let hash = self.login.token_hash;
                let _ = self.ctx.store.call(move |s| s.drop_token(hash)).await;
                return Err(Close::new(close::NORMAL, "logged out"));
            }
            ClientMsg::Register { .. } | ClientMsg::Login { .. } | ClientMsg::Resume { .. } => {
                ServerMsg::Refused(Refusal::AlreadyAuthenticated)
            }
        };
        self.write(&answer).await
    }
}

fn too_slow() -> Close {
    Close::new(close::TOO_SLOW, "too slow: reconnect to catch up")
}

/// Writes one frame; a client that does not read for [`WRITE_TIMEOUT`] is
/// too slow.
async fn write(send: &mut SendStream, msg: &ServerMsg) -> Result<(), Close> {
    match timeout(WRITE_TIMEOUT, codec::write_frame(send, msg)).await {
        Err(_) => Err(Close::new(close::TOO_SLOW, "too slow: not reading")),
        Ok(Err(e)) => Err(Close::from_frame(e)),
        Ok(Ok(())) => Ok(()),
    }
}

//! One task per connection: the hello, the login, then the session loop that
//! serves the control stream and passes on what the hub queues for it.
//!
//! Everything the client sends is bounded: the whole login must finish
//! within the auth timeout and in a few attempts, frames are size-checked
//! by the codec, and a protocol violation closes only this connection.

use std::net::SocketAddr;
use std::time::Duration;

use natter_common::codec::{self, FrameError, FrameReader};
use natter_common::limits::{MAX_CATCH_UP, MAX_DETAIL_CHARS};
use natter_common::protocol::close;
use natter_common::{
    ClientMsg, Hello, Limits, MessageId, Refusal, ServerMsg, SessionToken, Timestamp,
    PROTOCOL_VERSION,
};
use quinn::{RecvStream, SendStream, VarInt};
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, Instrument};

use crate::admission::{self, Admission};
use crate::auth::{self, Hasher, LoginThrottle, SignUpThrottle};
use crate::config::Config;
use crate::hub::{Fanout, Kick, KickReason, LogoutScope, Outbound};
use crate::store::{Account, Blocking, Family, NewToken};
use crate::{history, router};

/// What all sessions share.
pub struct Context {
    pub config: Config,
    pub store: Blocking,
    pub hub: Box<dyn Fanout>,
    pub throttle: LoginThrottle,
    /// Sign-ups per address per hour.
    pub sign_ups: SignUpThrottle,
    /// The bounded pool every password hash runs on.
    pub hasher: Hasher,
    /// Connections per address and sessions per account.
    pub admission: std::sync::Arc<Admission>,
    pub blobs: crate::media::BlobDir,
    /// Turns for uploads and downloads, server-wide and per user: bound
    /// transfer buffers.
    pub turns: crate::media::TransferTurns,
    /// Each account's send rate: see [`crate::send_rate`].
    pub send_rate: crate::send_rate::SendRate,
    /// Held while a message is stored and published: see [`crate::router`].
    pub sequencer: tokio::sync::Mutex<()>,
}

/// Login attempts (register, login, resume) one connection may make.
const MAX_AUTH_ATTEMPTS: u32 = 5;
/// Password logins whose tokens one account keeps; a new one past this
/// forgets the least recently renewed (docs/protocol.md §12).
const MAX_LOGINS_PER_ACCOUNT: u32 = 64;
/// How long a token replaced by a resume still resumes, in case the reply
/// carrying its successor was lost. Using the successor ends it sooner.
const TOKEN_GRACE: Duration = Duration::from_secs(60);
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
/// `place` is the connection's place in its address's counts, held until
/// the connection ends.
pub async fn serve(
    ctx: crate::Shared,
    incoming: quinn::Incoming,
    mut place: admission::Connection,
    shutdown: CancellationToken,
) {
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
        let outcome = run(&ctx, &connection, remote, &mut place, &shutdown).await;
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
    place: &mut admission::Connection,
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

    let (login, _seat) = tokio::select! {
        _ = shutdown.cancelled() => return Close::new(close::SHUTDOWN, "server shutting down"),
        r = timeout_at(deadline, authenticate(ctx, &mut send, &mut reader, remote)) => match r {
            Err(_) => return auth_timeout(),
            Ok(Err(close)) => return close,
            Ok(Ok(login)) => login,
        },
    };
    place.authenticated();
    grant_transfers(ctx, connection);
    tracing::Span::current().record("user", login.account.name.as_str());
    info!("logged in");

    let mut session = Session {
        ctx,
        connection,
        send,
        login,
        last_replayed: None,
        transfers: tokio::task::JoinSet::new(),
        kicked: Kick::default(),
        order: router::SendOrder::default(),
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

/// Lets a logged-in client open its transfer streams: until now only the
/// control stream was allowed (see the listener's transport settings).
fn grant_transfers(ctx: &Context, connection: &quinn::Connection) {
    connection.set_max_concurrent_bi_streams(VarInt::from_u32(1 + ctx.config.max_transfers));
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
    /// The token this session handed out: while it is stored, the session
    /// is not logged out.
    token_hash: [u8; 32],
    /// The password login this session descends from.
    family: Family,
    since: Option<MessageId>,
}

/// A token just issued to a client, and whose it is.
struct Grant {
    account: Account,
    token: SessionToken,
    token_hash: [u8; 32],
    family: Family,
}

/// Serves Register / Login / Resume until a login succeeds; the login and
/// its place among the account's sessions.
async fn authenticate(
    ctx: &Context,
    send: &mut SendStream,
    reader: &mut FrameReader<RecvStream>,
    remote: SocketAddr,
) -> Result<(Login, admission::Session), Close> {
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
            ClientMsg::Register { name, password } => {
                match auth::login::register(ctx, &name, password, remote).await {
                    Ok(user) => ServerMsg::Registered { user },
                    Err(refusal) => ServerMsg::Refused(refusal),
                }
            }
            ClientMsg::Login {
                name,
                password,
                since,
            } => match auth::login::login(ctx, &name, password, remote).await {
                Ok(account) => {
                    let seat = seat(ctx, send, &account).await?;
                    return Ok((start(ctx, send, account, since).await?, seat));
                }
                Err(refusal) => ServerMsg::Refused(refusal),
            },
            ClientMsg::Resume { token, since } => match resume(ctx, &token).await {
                Ok(grant) => {
                    let seat = seat(ctx, send, &grant.account).await?;
                    let login = logged_in(ctx, send, grant, since).await?;
                    return Ok((login, seat));
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

/// Takes one of the account's session places, or refuses the login and
/// closes the connection when it has the most it may.
async fn seat(
    ctx: &Context,
    send: &mut SendStream,
    account: &Account,
) -> Result<admission::Session, Close> {
    if let Some(seat) = ctx.admission.open_session(account.id) {
        return Ok(seat);
    }
    let refusal = Refusal::Busy(format!(
        "too many sessions for this account: at most {} at once",
        ctx.admission.sessions_per_account()
    ));
    let _ = write(send, &ServerMsg::Refused(refusal.clone())).await;
    // Closing discards unsent stream data: let the refusal arrive first.
    let _ = send.finish();
    let _ = timeout(Duration::from_secs(2), send.stopped()).await;
    Err(Close::new(close::SERVER_FULL, refusal.to_string()))
}

/// Resumes with a token, rotating it: the client gets a new token, and
/// the old one stops working after [`TOKEN_GRACE`] or once the new one is
/// used, whichever comes first.
async fn resume(ctx: &Context, token: &SessionToken) -> Result<Grant, Refusal> {
    let old = auth::token_hash(token);
    let (token, hash) = auth::new_token();
    let now = Timestamp::now();
    let new = NewToken {
        hash,
        now,
        expires: token_expiry(ctx, now),
        grace_until: Timestamp(now.0 + TOKEN_GRACE.as_millis() as i64),
    };
    let resumed = ctx
        .store
        .call(move |s| s.rotate_token(old, new))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "store failed");
            Refusal::Internal
        })?
        .ok_or(Refusal::InvalidSession)?;
    Ok(Grant {
        account: resumed.account,
        token,
        token_hash: hash,
        family: resumed.family,
    })
}

fn token_expiry(ctx: &Context, now: Timestamp) -> Timestamp {
    Timestamp(now.0 + i64::from(ctx.config.token_days) * 86_400_000)
}

/// Issues a fresh token for a password login: the first of a new family.
async fn start(
    ctx: &Context,
    send: &mut SendStream,
    account: Account,
    since: Option<MessageId>,
) -> Result<Login, Close> {
    let (token, hash) = auth::new_token();
    let expires = token_expiry(ctx, Timestamp::now());
    let id = account.id;
    ctx.store
        .call(move |s| {
            s.save_token(id, hash, expires)?;
            s.trim_logins(id, MAX_LOGINS_PER_ACCOUNT)
        })
        .await
        .map_err(|e| Close::new(close::NORMAL, format!("store failed: {e}")))?;
    let grant = Grant {
        account,
        token,
        token_hash: hash,
        family: Family(hash),
    };
    logged_in(ctx, send, grant, since).await
}

async fn logged_in(
    ctx: &Context,
    send: &mut SendStream,
    grant: Grant,
    since: Option<MessageId>,
) -> Result<Login, Close> {
    let Grant {
        account,
        token,
        token_hash,
        family,
    } = grant;
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
        family,
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
    kicked: Kick,
    login: Login,
    /// The newest message sent in the replay after login; live copies of
    /// messages up to it are skipped.
    last_replayed: Option<MessageId>,
    /// Keeps this session's messages in the order it sent them.
    order: router::SendOrder,
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
        let close = match self.enlist(sub.id).await {
            Ok(()) => self.welcome(sub.online.clone()).await,
            Err(close) => Err(close),
        };
        let close = match close {
            Ok(()) => self.run(&mut reader, &mut sub, shutdown).await,
            Err(close) => close,
        };
        self.ctx.hub.leave(sub.id);
        close
    }

    /// Makes this session one that logouts can find, then checks that its
    /// token was not dropped in between: a logout racing this login ends it
    /// either way.
    async fn enlist(&mut self, id: crate::hub::SessionId) -> Result<(), Close> {
        let (family, account) = (self.login.family, self.login.account.id);
        self.ctx.hub.enlist(id, family, account);
        let hash = self.login.token_hash;
        match self.ctx.store.call(move |s| s.token_alive(hash)).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(logged_out()),
            Err(e) => Err(Close::new(close::NORMAL, format!("store failed: {e}"))),
        }
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
                _ = sub.kicked.cancelled() => return kicked(&sub.kicked),
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
            _ = self.kicked.cancelled() => Err(kicked(&self.kicked)),
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
            } => {
                let from = &self.login.account;
                match router::send(self.ctx, from, &mut self.order, client_id, to, content).await {
                    Ok(stored) => ServerMsg::Accepted {
                        client_id,
                        id: stored.message.id,
                        sent_at: stored.message.sent_at,
                    },
                    Err(reason) => ServerMsg::Rejected { client_id, reason },
                }
            }
            ClientMsg::History {
                request,
                conversation,
                before,
                limit,
            } => {
                let viewer = &self.login.account;
                history::answer(self.ctx, viewer, request, conversation, before, limit).await
            }
            ClientMsg::Ping { nonce } => ServerMsg::Pong { nonce },
            ClientMsg::Logout => return Err(self.log_out(false).await),
            ClientMsg::LogoutEverywhere => return Err(self.log_out(true).await),
            ClientMsg::Register { .. } | ClientMsg::Login { .. } | ClientMsg::Resume { .. } => {
                ServerMsg::Refused(Refusal::AlreadyAuthenticated)
            }
        };
        self.write(&answer).await
    }
}

impl Session<'_> {
    /// Forgets the tokens of this login (or of the whole account), then ends
    /// its other sessions. In that order: a session resumed in between
    /// finds its token gone when it enlists.
    async fn log_out(&mut self, everywhere: bool) -> Close {
        let (family, account) = (self.login.family, self.login.account.id);
        let dropped = if everywhere {
            self.ctx
                .store
                .call(move |s| s.drop_account_tokens(account))
                .await
        } else {
            self.ctx.store.call(move |s| s.drop_family(family)).await
        };
        if let Err(e) = dropped {
            tracing::error!(error = %e, "logout: store failed");
            let _ = self.write(&ServerMsg::Refused(Refusal::Unavailable)).await;
            return Close::new(close::NORMAL, "logout failed: try again");
        }
        let scope = if everywhere {
            LogoutScope::Account(account)
        } else {
            LogoutScope::Login(family)
        };
        let ended = self.ctx.hub.log_out(scope);
        info!(everywhere, sessions = ended, "logged out");
        logged_out()
    }
}

/// How a session the hub kicked closes.
fn kicked(kick: &Kick) -> Close {
    match kick.reason() {
        KickReason::TooSlow => too_slow(),
        KickReason::LoggedOut => logged_out(),
    }
}

/// The close of every session a logout ends: code NORMAL, reason
/// "logged out" (docs/protocol.md §8).
fn logged_out() -> Close {
    Close::new(close::NORMAL, "logged out")
}

fn too_slow() -> Close {
    Close::new(close::TOO_SLOW, "too slow: reconnect to catch up")
}

/// Writes one frame; a client that does not read for [`WRITE_TIMEOUT`] is
/// too slow. A frame the server cannot encode (too large) is its own bug,
/// not the client's: it is logged and skipped, and the session goes on.
async fn write(send: &mut SendStream, msg: &ServerMsg) -> Result<(), Close> {
    match timeout(WRITE_TIMEOUT, codec::write_frame(send, msg)).await {
        Err(_) => Err(Close::new(close::TOO_SLOW, "too slow: not reading")),
        Ok(Err(e @ (FrameError::Encode(_) | FrameError::TooLarge { .. }))) => {
            tracing::error!(error = %e, frame = frame_name(msg), "outgoing frame skipped");
            Ok(())
        }
        Ok(Err(e)) => Err(Close::from_frame(e)),
        Ok(Ok(())) => Ok(()),
    }
}

/// A frame's kind, for logs (never its content).
fn frame_name(msg: &ServerMsg) -> &'static str {
    match msg {
        ServerMsg::Welcome { .. } => "Welcome",
        ServerMsg::Refused(_) => "Refused",
        ServerMsg::Registered { .. } => "Registered",
        ServerMsg::LoggedIn { .. } => "LoggedIn",
        ServerMsg::Online { .. } => "Online",
        ServerMsg::Joined { .. } => "Joined",
        ServerMsg::Left { .. } => "Left",
        ServerMsg::Message(_) => "Message",
        ServerMsg::CaughtUp { .. } => "CaughtUp",
        ServerMsg::Accepted { .. } => "Accepted",
        ServerMsg::Rejected { .. } => "Rejected",
        ServerMsg::History { .. } => "History",
        ServerMsg::Pong { .. } => "Pong",
    }
}

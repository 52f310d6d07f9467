//! The handshake of a connection: the hello and its version check, then
//! Register / Login / Resume until one succeeds, issuing or rotating the
//! session token and taking one of the account's session places.

use std::net::SocketAddr;
use std::time::Duration;

use natter_common::codec::{self, FrameReader};
use natter_common::{
    ClientMsg, Hello, Limits, MessageId, Refusal, ServerMsg, SessionToken, Timestamp,
    PROTOCOL_VERSION,
};
use quinn::{RecvStream, SendStream};
use tokio::time::timeout;
use tracing::debug;

use super::close::Close;
use super::write::write;
use crate::admission;
use crate::auth;
use crate::context::Context;
use crate::store::{Account, Family, NewToken};

/// Login attempts (register, login, resume) one connection may make.
const MAX_AUTH_ATTEMPTS: u32 = 5;
/// Password logins whose tokens one account keeps; a new one past this
/// forgets the least recently renewed (docs/protocol.md §12).
const MAX_LOGINS_PER_ACCOUNT: u32 = 64;
/// How long a token replaced by a resume still resumes, in case the reply
/// carrying its successor was lost. Using the successor ends it sooner.
const TOKEN_GRACE: Duration = Duration::from_secs(60);
const SOFTWARE: &str = concat!("natter-server ", env!("CARGO_PKG_VERSION"));

/// Reads the hello, checks the version first, answers Welcome.
pub(super) async fn hello(
    send: &mut SendStream,
    reader: &mut FrameReader<RecvStream>,
) -> Result<(), Close> {
    // The hello is the only frame read undecoded: its version must be
    // readable even if the rest of a newer client's hello is not.
    let payload = match reader.read_raw().await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(Close::Lost("no hello".into())),
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
        return Err(Close::violation(refusal));
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
pub(super) struct Login {
    pub(super) account: Account,
    /// The token this session handed out: while it is stored, the session
    /// is not logged out.
    pub(super) token_hash: [u8; 32],
    /// The password login this session descends from.
    pub(super) family: Family,
    pub(super) since: Option<MessageId>,
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
pub(super) async fn authenticate(
    ctx: &Context,
    send: &mut SendStream,
    reader: &mut FrameReader<RecvStream>,
    remote: SocketAddr,
) -> Result<(Login, admission::Session), Close> {
    let mut attempts = 0;
    loop {
        let msg = match reader.read::<ClientMsg>().await {
            Ok(Some(m)) => m,
            Ok(None) => return Err(Close::Lost("left before login".into())),
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
            ClientMsg::Logout | ClientMsg::LogoutEverywhere => return Err(Close::LoggedOut),
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
    Err(Close::Full(refusal))
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
        .map_err(|e| Close::StoreFailed(e.to_string()))?;
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

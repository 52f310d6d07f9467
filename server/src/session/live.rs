//! A logged-in session: joins the hub, replays what the user missed, then
//! serves the control stream, passes on what the hub queues and accepts
//! transfer streams until the session ends.

use std::pin::pin;

use bytes::Bytes;
use natter_common::codec::{FrameError, FrameReader};
use natter_common::limits::MAX_CATCH_UP;
use natter_common::{ClientMsg, MessageId, Refusal, ServerMsg};
use quinn::{RecvStream, SendStream};
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::close::Close;
use super::handshake::Login;
use super::logout::log_out;
use super::write::{write, write_frames};
use crate::context::Shared;
use crate::hub::{Kick, Outbound};
use crate::{history, router};

/// The most bytes of queued items [`Session::pass_on`] writes at once.
const BATCH_BYTES: usize = 64 * 1024;

/// A logged-in session.
pub(super) struct Session<'a> {
    ctx: &'a Shared,
    connection: &'a quinn::Connection,
    send: SendStream,
    /// Transfer streams in flight; aborted when the session ends.
    pub(super) transfers: tokio::task::JoinSet<()>,
    /// The hub's kick for this session: also interrupts a blocked write.
    kicked: Kick,
    login: Login,
    /// The newest message sent in the replay after login; live copies of
    /// messages up to it are skipped.
    last_replayed: Option<MessageId>,
    /// Keeps this session's messages in the order it sent them.
    order: router::SendOrder,
}

impl<'a> Session<'a> {
    /// A session for `login`, not yet in the hub.
    pub(super) fn new(
        ctx: &'a Shared,
        connection: &'a quinn::Connection,
        send: SendStream,
        login: Login,
    ) -> Self {
        Self {
            ctx,
            connection,
            send,
            transfers: tokio::task::JoinSet::new(),
            kicked: Kick::default(),
            login,
            last_replayed: None,
            order: router::SendOrder::default(),
        }
    }

    pub(super) async fn serve(
        &mut self,
        mut reader: FrameReader<RecvStream>,
        shutdown: &CancellationToken,
    ) -> Close {
        // Join before reading history: anything stored from now on is in
        // the queue, anything before is in the replay; overlaps are skipped.
        let (mut sub, online) = self.ctx.hub.join(&self.login.account.name);
        self.kicked = sub.kicked.clone();
        let close = match self.enlist(sub.id).await {
            Ok(()) => Box::pin(self.welcome(online)).await,
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
            Ok(false) => Err(Close::LoggedOut),
            Err(e) => Err(Close::StoreFailed(e.to_string())),
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
            .map_err(|e| Close::StoreFailed(e.to_string()))?;
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
        // The waits that outlive one step are made once, not per step:
        // making one and dropping it each cost a registration (a lock),
        // and a busy room takes a step per delivery batch.
        let connection = self.connection;
        let kicked = sub.kicked.clone();
        let mut shutting_down = pin!(shutdown.cancelled());
        let mut kick = pin!(kicked.cancelled());
        let mut accept = pin!(connection.accept_bi());
        let mut read = pin!(read_one(reader));
        loop {
            let step = tokio::select! {
                biased;
                _ = &mut shutting_down => return Close::Shutdown,
                _ = &mut kick => return Close::kicked(&kicked),
                out = sub.rx.recv() => match out {
                    // Boxed like `handle` below: a batch's write state
                    // (~600 bytes) is not held while the client idles; one
                    // allocation per batch, beside the batch's own.
                    Some(out) => Box::pin(self.pass_on(out, &mut sub.rx)).await,
                    None => return Close::FellBehind,
                },
                stream = &mut accept => match stream {
                    Ok((send, recv)) => {
                        accept.set(connection.accept_bi());
                        let (ctx, account) = (self.ctx.clone(), self.login.account.clone());
                        self.transfers.spawn(async move {
                            crate::media::serve(&ctx, &account, send, recv).await;
                        }.in_current_span());
                        Ok(())
                    }
                    Err(e) => return Close::Lost(e.to_string()),
                },
                Some(_) = self.transfers.join_next() => Ok(()),
                (reader, msg) = &mut read => {
                    read.set(read_one(reader));
                    match msg {
                        // Boxed: an idle session's task need not hold the
                        // state of a send or a history page (~10 KiB).
                        Ok(Some(msg)) => Box::pin(self.handle(msg)).await,
                        Ok(None) => return Close::ClientClosed,
                        Err(e) => return Close::from_frame(e),
                    }
                }
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
            _ = self.kicked.cancelled() => Err(Close::kicked(&self.kicked)),
            r = write(&mut self.send, msg) => r,
        }
    }

    /// Passes on `first` and whatever else is queued by now, up to
    /// [`BATCH_BYTES`], in one write: under load the batches grow by
    /// themselves, and each costs one wake-up and a few packets instead of
    /// one of each per item.
    async fn pass_on(
        &mut self,
        first: Outbound,
        queue: &mut Receiver<Outbound>,
    ) -> Result<(), Close> {
        let mut frames = Vec::new();
        let mut bytes = 0;
        let mut next = Some(first);
        while let Some(out) = next {
            if let Some(frame) = self.frame_for(out) {
                bytes += frame.len();
                frames.push(frame);
            }
            next = if bytes < BATCH_BYTES {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        write_frames(&mut self.send, &mut frames, &self.kicked).await
    }

    /// The frame for one queued item; `None` for a message the replay
    /// already carried.
    fn frame_for(&self, out: Outbound) -> Option<Bytes> {
        match out {
            Outbound::Message(m) => {
                let replayed = self.last_replayed.is_some_and(|last| m.id <= last);
                (!replayed).then_some(m.frame)
            }
            Outbound::Presence(frame) => Some(frame),
        }
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

    /// Logs this login (or the whole account) out, which ends this session
    /// too. If the tokens could not be forgotten, the client hears
    /// `Unavailable` and may try again from a new connection.
    async fn log_out(&mut self, everywhere: bool) -> Close {
        if let Err(e) = log_out(self.ctx, &self.login, everywhere).await {
            tracing::error!(error = %e, "logout: store failed");
            let _ = self.write(&ServerMsg::Refused(Refusal::Unavailable)).await;
            return Close::LogoutFailed;
        }
        Close::LoggedOut
    }
}

/// Reads the next frame and hands the reader back, so the wait for it can
/// live across the steps of [`Session::run`].
async fn read_one(
    reader: &mut FrameReader<RecvStream>,
) -> (
    &mut FrameReader<RecvStream>,
    Result<Option<ClientMsg>, FrameError>,
) {
    let msg = reader.read::<ClientMsg>().await;
    (reader, msg)
}

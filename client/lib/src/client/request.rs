//! Requests from the handle to the task, as the task keeps them until the
//! server answers: messages to send, history pages to fetch, pings, and
//! the logout.

use std::time::Duration;

use natter_common::{
    ChatMessage, ClientMsg, ClientMsgId, Content, Conversation, MessageId, Recipient, RequestId,
};
use tokio::sync::oneshot;

use crate::error::ClientError;

/// One page of a conversation's history, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub messages: Vec<ChatMessage>,
    /// Older messages exist: ask again with `before` = the first id here.
    pub more: bool,
}

/// Requests from the handle to the task.
pub(super) enum Command {
    Send(PendingSend),
    History(HistoryWait),
    Ping(oneshot::Sender<Result<Duration, ClientError>>),
    Reconnect,
    Logout {
        /// End every session of the account, not only this login's.
        everywhere: bool,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
}

/// A message the server has not accepted or rejected yet.
pub(super) struct PendingSend {
    pub(super) client_id: ClientMsgId,
    pub(super) to: Recipient,
    pub(super) content: Content,
    /// Sent on the current connection (reset on every reconnect).
    pub(super) sent: bool,
}

impl PendingSend {
    /// The `Send` that puts it on the wire, with the same client id every
    /// time.
    pub(super) fn message(&self) -> ClientMsg {
        ClientMsg::Send {
            client_id: self.client_id,
            to: self.to.clone(),
            content: self.content.clone(),
        }
    }
}

/// A history page someone waits for.
pub(super) struct HistoryWait {
    pub(super) request: RequestId,
    pub(super) conversation: Conversation,
    pub(super) before: Option<MessageId>,
    pub(super) limit: u16,
    pub(super) sent: bool,
    pub(super) reply: oneshot::Sender<Result<HistoryPage, ClientError>>,
}

impl HistoryWait {
    /// The `History` request, under its current request id.
    pub(super) fn message(&self) -> ClientMsg {
        ClientMsg::History {
            request: self.request,
            conversation: self.conversation.clone(),
            before: self.before,
            limit: self.limit,
        }
    }
}

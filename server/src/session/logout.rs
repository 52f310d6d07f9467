//! Logout of one login or of the whole account: the tokens are dropped
//! first, then the hub ends the other sessions they opened.

use natter_common::protocol::close;
use natter_common::{Refusal, ServerMsg};
use tracing::info;

use super::live::Session;
use super::Close;
use crate::hub::LogoutScope;

impl Session<'_> {
    /// Forgets the tokens of this login (or of the whole account), then ends
    /// its other sessions. In that order: a session resumed in between
    /// finds its token gone when it enlists.
    pub(super) async fn log_out(&mut self, everywhere: bool) -> Close {
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

/// The close of every session a logout ends: code NORMAL, reason
/// "logged out" (docs/protocol.md §8).
pub(super) fn logged_out() -> Close {
    Close::new(close::NORMAL, "logged out")
}

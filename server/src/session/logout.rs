//! Logout of one login or of the whole account: the tokens are dropped
//! first, then the hub ends the other sessions they opened.

use tracing::info;

use super::handshake::Login;
use crate::context::Context;
use crate::hub::LogoutScope;
use crate::store::StoreError;

/// Forgets the tokens of `login` (or of its whole account), then ends the
/// sessions they opened. In that order: a session resumed in between finds
/// its token gone when it enlists. The hub's kick closes those sessions with
/// [`super::close::Close::LoggedOut`]; the caller closes its own the same way.
pub(super) async fn log_out(
    ctx: &Context,
    login: &Login,
    everywhere: bool,
) -> Result<(), StoreError> {
    let (family, account) = (login.family, login.account.id);
    if everywhere {
        ctx.store
            .call(move |s| s.drop_account_tokens(account))
            .await?;
    } else {
        ctx.store.call(move |s| s.drop_family(family)).await?;
    }
    let scope = if everywhere {
        LogoutScope::Account(account)
    } else {
        LogoutScope::Login(family)
    };
    let ended = ctx.hub.log_out(scope);
    info!(everywhere, sessions = ended, "logged out");
    Ok(())
}

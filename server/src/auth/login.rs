//! Signing up and logging in with a password: the order of the checks
//! (cheap ones first, the throttle before the hash), and what a success or
//! a failure leaves behind.

use std::net::SocketAddr;

use natter_common::{Refusal, Timestamp, UserName};
use tracing::{info, warn};

use super::throttle::Origin;
use crate::context::Context;
use crate::store::{Account, StoreError};

/// Creates an account. Cheap refusals come first; a sign-up is counted
/// against the address before its password is hashed, and given back if no
/// account was created.
pub async fn register(
    ctx: &Context,
    name: &str,
    password: String,
    remote: SocketAddr,
) -> Result<UserName, Refusal> {
    let name = super::check_new_account(name, &password)?;
    let key = name.clone();
    if ctx
        .store
        .call(move |s| s.account(key.as_str()))
        .await
        .map_err(store_failed)?
        .is_some()
    {
        return Err(Refusal::NameTaken(name.to_string()));
    }
    let ip = crate::admission::address_key(remote.ip());
    let sign_up = ctx.sign_ups.reserve(ip)?;
    let hash = match ctx.hasher.hash(ip, password).await {
        Ok(hash) => hash,
        Err(refusal) => {
            ctx.sign_ups.refund(sign_up);
            return Err(refusal);
        }
    };
    let for_store = name.clone();
    let created = ctx
        .store
        .call(move |s| s.create_account(&for_store, &hash))
        .await;
    match created {
        Ok(account) => {
            info!(user = %account.name, "registered");
            Ok(account.name)
        }
        Err(e) => {
            ctx.sign_ups.refund(sign_up);
            match e {
                StoreError::NameTaken => Err(Refusal::NameTaken(name.to_string())),
                e => Err(store_failed(e)),
            }
        }
    }
}

fn store_failed(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "store failed");
    Refusal::Internal
}

/// Checks a password. The name is parsed before it is used for anything;
/// the attempt is counted before the password is hashed and given back if
/// it succeeds; an address that logged into the account before is counted
/// apart from strangers (see [`crate::auth::throttle`]).
pub async fn login(
    ctx: &Context,
    name: &str,
    password: String,
    remote: SocketAddr,
) -> Result<Account, Refusal> {
    let name = super::check_name(name)?;
    let ip = crate::admission::address_key(remote.ip());
    let key = name.clone();
    let account = ctx
        .store
        .call(move |s| s.account(key.as_str()))
        .await
        .map_err(store_failed)?;
    let Some(account) = account else {
        let _counted = ctx.throttle.reserve(None, ip, Origin::Stranger)?;
        return Err(Refusal::UnknownUser(name.to_string()));
    };
    let id = account.id;
    let known = ctx
        .store
        .call(move |s| s.is_known_address(id, ip))
        .await
        .map_err(store_failed)?;
    let origin = if known {
        Origin::Known
    } else {
        Origin::Stranger
    };
    let attempt = ctx.throttle.reserve(Some(id), ip, origin)?;
    match ctx
        .hasher
        .verify(ip, password, account.password_hash.clone())
        .await
    {
        Ok(true) => {
            ctx.throttle.refund(attempt);
            let now = Timestamp::now();
            if let Err(e) = ctx
                .store
                .call(move |s| s.remember_address(id, ip, now))
                .await
            {
                warn!(error = %e, "could not remember the login address");
            }
            Ok(account)
        }
        Ok(false) => {
            warn!(user = %account.name, %remote, "wrong password");
            Err(Refusal::WrongPassword)
        }
        Err(refusal) => {
            ctx.throttle.refund(attempt);
            Err(refusal)
        }
    }
}

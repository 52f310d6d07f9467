//! How a transfer survives a dropped connection: it waits, bounded, for
//! the client to reconnect and runs again, resuming from what already
//! arrived.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::client::handle::Client;
use crate::error::ClientError;

/// Connection losses a transfer rides out (resuming each time) before it
/// gives up.
const MAX_ATTEMPTS: u32 = 20;
/// How long a transfer waits for the client to reconnect.
const RECONNECT_WAIT: Duration = Duration::from_secs(60);

impl Client {
    /// Runs `attempt` on the live connection; when the connection drops,
    /// waits for the client to reconnect and runs it again (each attempt
    /// resumes from what already arrived). The last attempt's result.
    pub(super) async fn with_retries<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        mut attempt: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(quinn::Connection) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut last = None;
        for _ in 0..MAX_ATTEMPTS {
            let connection = self.live_connection(cancel).await?;
            match attempt(connection).await {
                Ok(v) => return Ok(v),
                Err(e @ (ClientError::Closed(_) | ClientError::Interrupted(_)))
                    if !cancel.is_cancelled() =>
                {
                    tracing::info!(reason = %e, "transfer interrupted; resuming");
                    last = Some(e);
                    // Let the client notice the loss before asking again.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Closed("transfer failed".into())))
    }

    /// The current connection, waiting (bounded) through a reconnect:
    /// wakes when the client publishes another connection or stops.
    async fn live_connection(
        &self,
        cancel: &CancellationToken,
    ) -> Result<quinn::Connection, ClientError> {
        let mut connection = self.watch_connection();
        let deadline = tokio::time::sleep(RECONNECT_WAIT);
        tokio::pin!(deadline);
        loop {
            if cancel.is_cancelled() {
                return Err(ClientError::Closed("transfer cancelled".into()));
            }
            let current = connection.borrow_and_update().clone();
            if let Some(live) = current.filter(|c| c.close_reason().is_none()) {
                return Ok(live);
            }
            if let Some(e) = self.stopped() {
                return Err(e);
            }
            tokio::select! {
                () = cancel.cancelled() => {}
                changed = connection.changed() => {
                    if changed.is_err() {
                        return Err(self.stopped().unwrap_or_else(|| {
                            ClientError::Closed("the client has stopped".into())
                        }));
                    }
                }
                () = &mut deadline => {
                    return Err(ClientError::Closed("not reconnected in time".into()));
                }
            }
        }
    }
}

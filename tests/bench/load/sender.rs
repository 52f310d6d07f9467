//! A sender of the fan-out load: its share of a fixed schedule, each
//! message stamped (see [`super::stamp`]) the moment it is written, so
//! latency counts from the real send and lateness against the schedule is
//! reported apart.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use natter_common::codec::encode_frame;
use natter_common::{
    ChatMessage, ClientMsg, ClientMsgId, Content, MessageId, Recipient, ServerMsg, Timestamp,
    UserName,
};

use super::room::Shared;
use super::stamp::Stamp;

/// Sender `s`: its share of the schedule (message k of the run is due at
/// k/R seconds and sent by sender k mod S), each stamped as it is written.
/// Holds the stream open until the stop, since closing it ends the session.
pub async fn run(s: usize, mut send: quinn::SendStream, shared: Arc<Shared>) {
    let mut start = shared.run.started();
    let Ok(at) = start
        .wait_for(Option::is_some)
        .await
        .map(|t| t.unwrap_or_else(Instant::now))
    else {
        return;
    };
    let load = &shared.run.load;
    // Exactly R × D messages in all: message k is due at k/R seconds.
    let total = (load.rate * load.secs).round() as usize;
    let from = UserName::parse(&format!("sender{s}")).expect("a valid name");
    let mut seq = 0u32;
    loop {
        let k = s + seq as usize * load.senders;
        if k >= total {
            break;
        }
        let due = at + Duration::from_secs_f64(k as f64 / load.rate);
        tokio::time::sleep_until(due.into()).await;
        let now = Instant::now();
        let lag = now.saturating_duration_since(due).as_micros() as u64;
        shared.run.send_lag_us.fetch_max(lag, Relaxed);
        let stamp = Stamp {
            sent_ns: shared.run.ns(now),
            sender: s,
            seq,
        };
        let Ok(frame) = frame(&shared, &from, stamp) else {
            return;
        };
        if send.write_all(&frame).await.is_err() {
            return;
        }
        shared.run.sent.fetch_add(1, Relaxed);
        if shared.relay {
            shared.accepted.fetch_add(1, Relaxed);
        }
        seq += 1;
    }
    shared.run.stop.cancelled().await;
}

/// The frame that carries `stamp`: a `Send` to the group for Natter; for
/// the relay, the `Message` it passes on as it is (so recipients decode
/// the same thing either way).
fn frame(
    shared: &Shared,
    from: &UserName,
    stamp: Stamp,
) -> Result<Vec<u8>, natter_common::FrameError> {
    let content = Content::Text(stamp.text(shared.run.load.body));
    if shared.relay {
        encode_frame(&ServerMsg::Message(ChatMessage {
            id: MessageId(stamp.seq.into()),
            from: from.clone(),
            to: Recipient::Everyone,
            sent_at: Timestamp(0),
            content,
        }))
    } else {
        encode_frame(&ClientMsg::Send {
            client_id: ClientMsgId(u64::from(stamp.seq) + 1),
            to: Recipient::Everyone,
            content,
        })
    }
}

//! A server's control stream as the client reads it: `ServerMsg` frames
//! (the first one too), each then handled the way the client library and
//! its views do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_common::limits::MAX_FRAME_BYTES;
use natter_common::{ChatMessage, ServerMsg, UserName};
use natter_common_fuzz::read_stream;

fn chat_message(m: &ChatMessage) {
    let me = UserName::parse("me").unwrap();
    let conversation = m.conversation_for(&me);
    let _ = (
        conversation.recipient(),
        m.sent_at.to_utc(),
        m.content.summary(),
    );
    let _ = (m.from.key(), m.from.skeleton());
}

fn message(msg: &ServerMsg) {
    let _ = msg.kind();
    match msg {
        ServerMsg::Refused(r) | ServerMsg::Rejected { reason: r, .. } => {
            let _ = r.to_string();
        }
        ServerMsg::Message(m) => chat_message(m),
        ServerMsg::History { messages, .. } => messages.iter().for_each(chat_message),
        ServerMsg::Online { users } => {
            let _: Vec<String> = users.iter().map(UserName::skeleton).collect();
        }
        ServerMsg::Accepted { sent_at, .. } => {
            let _ = sent_at.to_utc();
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    read_stream::<ServerMsg, ServerMsg>(data, MAX_FRAME_BYTES, message, message);
});

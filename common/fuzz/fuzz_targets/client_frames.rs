//! A client's control stream as the server reads it: a hello, then
//! `ClientMsg` frames, each then handled the way the server's session does
//! before it touches storage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_common::codec;
use natter_common::limits::{MAX_FRAME_BYTES, MAX_TEXT_CHARS};
use natter_common::rules::check_content;
use natter_common::{ClientMsg, Hello, Recipient, UserName};
use natter_common_fuzz::read_stream;

fn hello(hello: &Hello) {
    let payload = codec::to_bytes(hello).unwrap();
    assert_eq!(codec::hello_version(&payload).unwrap(), hello.version);
}

fn message(msg: &ClientMsg) {
    match msg {
        ClientMsg::Register { name, .. } | ClientMsg::Login { name, .. } => {
            if let Ok(name) = UserName::parse(name) {
                let _ = (name.key(), name.skeleton());
            }
        }
        ClientMsg::Send { to, content, .. } => {
            let _ = check_content(content, MAX_TEXT_CHARS as u32);
            let _ = (content.summary(), content.media());
            if let Recipient::User(name) = to {
                let _ = (name.key(), name.skeleton());
            }
        }
        ClientMsg::History { conversation, .. } => {
            let _ = conversation.recipient();
        }
        ClientMsg::Resume { .. }
        | ClientMsg::Ping { .. }
        | ClientMsg::Logout
        | ClientMsg::LogoutEverywhere => {}
    }
}

fuzz_target!(|data: &[u8]| {
    // The server reads the version of any first frame before the rest.
    let _ = codec::hello_version(data.get(4..).unwrap_or_default());
    read_stream::<Hello, ClientMsg>(data, MAX_FRAME_BYTES, hello, message);
});

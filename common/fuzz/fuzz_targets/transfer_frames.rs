//! A transfer stream's first frame, read as the server reads a
//! `TransferHeader` and as the client reads a `TransferReply`: with the
//! 4096-byte limit both use, and leaving the raw blob bytes that follow
//! in the stream untouched.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use natter_common::codec::{self, FrameError};
use natter_common::{TransferHeader, TransferReply};
use natter_common_fuzz::{decode_canonical, finish};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The transfer header and reply limit of the server and the client.
const MAX_TRANSFER_FRAME: u32 = 4096;

fn first_frame<T>(stream: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let mut rest = stream;
    let read = finish(codec::read_frame::<_, T>(&mut rest, MAX_TRANSFER_FRAME));
    let len = stream
        .get(..4)
        .map(|l| u32::from_le_bytes(l.try_into().unwrap()));
    match read {
        Ok(Some(value)) => {
            let len = len.unwrap() as usize;
            assert!(len <= MAX_TRANSFER_FRAME as usize);
            // The frame and nothing past it was consumed.
            assert_eq!(rest, &stream[4 + len..]);
            let same: T = decode_canonical(&stream[4..4 + len]).unwrap();
            assert_eq!(same, value);
            Some(value)
        }
        Ok(None) => {
            assert!(stream.is_empty());
            None
        }
        Err(FrameError::TooLarge { len: got, .. }) => {
            assert!(got > MAX_TRANSFER_FRAME.into());
            assert_eq!(Some(got), len.map(u64::from));
            None
        }
        Err(_) => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = first_frame::<TransferHeader>(data);
    if let Some(TransferReply::Refused(r)) = first_frame::<TransferReply>(data) {
        let _ = r.to_string();
    }
});

//! What every fuzz target checks about bytes from a hostile peer: reading
//! frames never panics, a length is refused before it is allocated, and
//! whatever decodes is the one canonical encoding of its value.

use std::fmt::Debug;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use natter_common::codec::{self, FrameError};
use natter_common::FrameReader;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Runs a codec future over an in-memory stream. Reading from a byte slice
/// never waits, so one poll finishes it and no runtime is needed.
pub fn finish<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a read from a byte slice waited"),
    }
}

/// Decodes one payload as `T`. A value that decodes must encode back to
/// exactly these bytes, as a payload and inside a frame, and decode again
/// to itself.
pub fn decode_canonical<T>(payload: &[u8]) -> Result<T, FrameError>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let value: T = codec::decode_payload(payload)?;
    let again = codec::to_bytes(&value).expect("a decoded value encodes");
    assert_eq!(
        again, payload,
        "{value:?} decoded from bytes it does not encode to"
    );
    let frame = codec::encode_frame(&value).expect("a decoded value fits a frame");
    assert_eq!(&frame[..4], &(payload.len() as u32).to_le_bytes());
    assert_eq!(&frame[4..], payload);
    let twice: T = codec::decode_payload(&again).expect("a canonical encoding decodes");
    assert_eq!(twice, value);
    Ok(value)
}

/// Reads `stream` as a sequence of frames, the first as `F` and the rest
/// as `T` (a control stream: hello, then messages), both with the
/// cancel-safe [`FrameReader`] and with [`codec::read_frame`], which must
/// agree frame by frame. Every decoded value goes to `inspect`, which
/// plays the receiving peer.
pub fn read_stream<F, T>(stream: &[u8], max: u32, inspect_first: fn(&F), inspect: fn(&T))
where
    F: DeserializeOwned + Serialize + PartialEq + Debug,
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let mut reader = FrameReader::with_max(stream, max);
    let mut rest = stream;
    for index in 0.. {
        let buffered = finish(reader.read_raw());
        let direct = finish(codec::read_payload(&mut rest, max));
        let payload = match (buffered, direct) {
            (Ok(Some(a)), Ok(Some(b))) => {
                assert_eq!(a, b, "the two readers cut frame {index} differently");
                assert!(a.len() <= max as usize, "a payload beyond the limit");
                a
            }
            (Ok(None), Ok(None)) => return,
            (Err(a), Err(b)) => {
                assert_eq!(kind(&a), kind(&b), "the two readers fail differently");
                return;
            }
            (a, b) => panic!("the readers disagree on frame {index}: {a:?} / {b:?}"),
        };
        if index == 0 {
            match decode_canonical::<F>(&payload) {
                Ok(first) => inspect_first(&first),
                Err(_) => return,
            }
        } else {
            match decode_canonical::<T>(&payload) {
                Ok(value) => inspect(&value),
                Err(_) => return,
            }
        }
    }
}

fn kind(e: &FrameError) -> &'static str {
    match e {
        FrameError::TooLarge { .. } => "too large",
        FrameError::Decode(_) => "decode",
        FrameError::NotCanonical => "not canonical",
        FrameError::Encode(_) => "encode",
        FrameError::Truncated => "truncated",
        FrameError::Io(_) => "io",
    }
}

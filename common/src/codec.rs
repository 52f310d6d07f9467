//! Framing: each frame is a u32 little-endian payload length followed by
//! that many bytes of postcard. The length is checked against a maximum
//! before any payload byte is allocated or read.
//!
//! Every value has exactly one encoding: a payload is accepted only if it
//! is the one the encoder would write for the decoded value, so varints in
//! a longer form than needed and bytes after the value are refused (postcard
//! alone accepts both). Peers can compare, hash or log frames byte for byte.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::limits::MAX_FRAME_BYTES;

/// What can go wrong reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: u32 },
    #[error("undecodable frame: {0}")]
    Decode(postcard::Error),
    #[error("frame not in its canonical encoding (an over-long varint or bytes after the value)")]
    NotCanonical,
    #[error("could not encode frame: {0}")]
    Encode(postcard::Error),
    #[error("stream ended in the middle of a frame")]
    Truncated,
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes one value as a complete frame (length prefix included).
pub fn encode_frame<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = postcard::to_extend(value, vec![0u8; 4]).map_err(FrameError::Encode)?;
    let len = out.len() - 4;
    if len > MAX_FRAME_BYTES as usize {
        return Err(FrameError::TooLarge {
            len: len as u64,
            max: MAX_FRAME_BYTES,
        });
    }
    out[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(out)
}

/// Encodes a value the way frames do, without the length prefix: for peers
/// that store protocol values (the server keeps message content this way).
pub fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    postcard::to_stdvec(value).map_err(FrameError::Encode)
}

/// Reads the version from a hello payload without decoding the rest, so a
/// hello from a newer client still yields its version for the refusal.
pub fn hello_version(payload: &[u8]) -> Result<u16, FrameError> {
    postcard::take_from_bytes::<u16>(payload)
        .map(|(v, _)| v)
        .map_err(FrameError::Decode)
}

/// Decodes a frame's payload (without its length prefix), refusing any
/// encoding but the canonical one (see the module docs).
pub fn decode_payload<T: DeserializeOwned + Serialize>(payload: &[u8]) -> Result<T, FrameError> {
    let value: T = postcard::from_bytes(payload).map_err(FrameError::Decode)?;
    if !encodes_to(&value, payload) {
        return Err(FrameError::NotCanonical);
    }
    Ok(value)
}

/// Whether `value` encodes to exactly `bytes`, compared as it is written
/// (no second buffer).
fn encodes_to<T: Serialize>(value: &T, bytes: &[u8]) -> bool {
    struct Compare<'a> {
        rest: &'a [u8],
        same: bool,
    }
    impl postcard::ser_flavors::Flavor for Compare<'_> {
        type Output = bool;
        fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
            self.try_extend(&[byte])
        }
        fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
            match self.rest.strip_prefix(data) {
                Some(rest) => self.rest = rest,
                None => {
                    self.same = false;
                    self.rest = &[];
                }
            }
            Ok(())
        }
        fn finalize(self) -> postcard::Result<bool> {
            Ok(self.same && self.rest.is_empty())
        }
    }
    postcard::serialize_with_flavor(
        value,
        Compare {
            rest: bytes,
            same: true,
        },
    )
    .unwrap_or(false)
}

/// Writes one frame.
pub async fn write_frame<W, T>(w: &mut W, value: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let frame = encode_frame(value)?;
    w.write_all(&frame).await?;
    Ok(())
}

/// Reads exactly one frame and nothing past it, so raw bytes that follow a
/// header frame stay in the stream. `Ok(None)` means the stream ended
/// cleanly before the frame began. Not cancel-safe: use [`FrameReader`] in
/// a `select!`.
pub async fn read_frame<R, T>(r: &mut R, max: u32) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned + Serialize,
{
    match read_payload(r, max).await? {
        Some(payload) => decode_payload(&payload).map(Some),
        None => Ok(None),
    }
}

/// Reads one frame's payload undecoded (see [`read_frame`]).
pub async fn read_payload<R>(r: &mut R, max: u32) -> Result<Option<Vec<u8>>, FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    let len = u32::from_le_bytes(len);
    if len > max {
        return Err(FrameError::TooLarge {
            len: len.into(),
            max,
        });
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })?;
    Ok(Some(payload))
}

/// A cancel-safe frame reader for long-lived streams: a frame only
/// partly received when a `select!` picks another branch stays buffered
/// and is completed by the next call.
pub struct FrameReader<R> {
    inner: R,
    max: u32,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_FRAME_BYTES)
    }

    pub fn with_max(inner: R, max: u32) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
        }
    }

    /// The next frame, or `Ok(None)` at a clean end of stream.
    pub async fn read<T: DeserializeOwned + Serialize>(&mut self) -> Result<Option<T>, FrameError> {
        match self.read_raw().await? {
            Some(payload) => decode_payload(&payload).map(Some),
            None => Ok(None),
        }
    }

    /// The next frame's payload, undecoded.
    ///
    /// Reads straight into the buffer, asking for what the frame still
    /// lacks: an idle reader (a quiet session) holds [`IDLE_READ`] bytes,
    /// not a read-sized scratch array in its task.
    pub async fn read_raw(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        loop {
            let mut want = IDLE_READ;
            if self.buf.len() >= 4 {
                let len = u32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes"));
                if len > self.max {
                    return Err(FrameError::TooLarge {
                        len: len.into(),
                        max: self.max,
                    });
                }
                let end = 4 + len as usize;
                if self.buf.len() >= end {
                    let payload = self.buf[4..end].to_vec();
                    self.buf.drain(..end);
                    if self.buf.is_empty() && self.buf.capacity() > MAX_READ {
                        self.buf = Vec::new();
                    }
                    return Ok(Some(payload));
                }
                want = (end - self.buf.len()).min(MAX_READ);
            }
            self.buf.reserve(want);
            // `read_buf` is cancel-safe: if another branch wins, nothing
            // was read.
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
    }
}

/// What [`FrameReader`] asks for when it knows no frame length yet.
const IDLE_READ: usize = 512;
/// The most [`FrameReader`] asks for in one read, and keeps between frames.
const MAX_READ: usize = 64 * 1024;

/// Writes frames to a stream.
pub struct FrameWriter<W> {
    inner: W,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner }
    }

    pub async fn send<T: Serialize>(&mut self, value: &T) -> Result<(), FrameError> {
        write_frame(&mut self.inner, value).await
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emoji::EmojiId;
    use crate::ids::{ClientMsgId, UserName};
    use crate::message::{Content, Recipient};
    use crate::protocol::{ClientMsg, Hello, ServerMsg};

    fn hex(bytes: &[u8]) -> String {
        crate::ids::hex(bytes)
    }

    /// The byte vectors docs/protocol.md shows. If one changes, the document
    /// and every other client must change with it.
    #[test]
    fn golden_frames_match_the_protocol_document() {
        let hello = Hello {
            version: 3,
            software: "cli".into(),
        };
        assert_eq!(hex(&encode_frame(&hello).unwrap()), "050000000303636c69");

        let ping = ClientMsg::Ping { nonce: 300 };
        assert_eq!(hex(&encode_frame(&ping).unwrap()), "0300000005ac02");

        let send = ClientMsg::Send {
            client_id: ClientMsgId(7),
            to: Recipient::Everyone,
            content: Content::Text("hi".into()),
        };
        assert_eq!(
            hex(&encode_frame(&send).unwrap()),
            "07000000030700000268 69".replace(' ', "")
        );

        let private_emoji = ClientMsg::Send {
            client_id: ClientMsgId(1),
            to: Recipient::User(UserName::parse("bob").unwrap()),
            content: Content::Emoji(EmojiId(3)),
        };
        assert_eq!(
            hex(&encode_frame(&private_emoji).unwrap()),
            "0900000003010103626f620103"
        );

        let joined = ServerMsg::Joined {
            user: UserName::parse("bob").unwrap(),
        };
        assert_eq!(
            hex(&encode_frame(&joined).unwrap()),
            "0500000005 03626f62".replace(' ', "")
        );

        let presence = ServerMsg::Presence {
            came: vec![UserName::parse("bob").unwrap()],
            went: vec![],
        };
        assert_eq!(
            hex(&encode_frame(&presence).unwrap()),
            "070000000d0103626f6200"
        );
    }

    #[tokio::test]
    async fn frames_round_trip_through_a_stream() {
        let (mut a, b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for n in 0..100u64 {
                write_frame(&mut a, &ClientMsg::Ping { nonce: n })
                    .await
                    .unwrap();
            }
        });
        let mut reader = FrameReader::new(b);
        for n in 0..100u64 {
            let got: ClientMsg = reader.read().await.unwrap().unwrap();
            assert_eq!(got, ClientMsg::Ping { nonce: n });
        }
        writer.await.unwrap();
        assert!(reader.read::<ClientMsg>().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_length_is_refused_before_allocating() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
        let mut reader = FrameReader::new(b);
        let err = reader.read::<ClientMsg>().await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len, .. } if len == u32::MAX as u64));
    }

    #[tokio::test]
    async fn garbage_is_a_decode_error_and_truncation_is_detected() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(&[2, 0, 0, 0, 0xff, 0xff, 9, 0, 0, 0, 1])
            .await
            .unwrap();
        drop(a);
        let mut reader = FrameReader::new(b);
        assert!(matches!(
            reader.read::<ClientMsg>().await,
            Err(FrameError::Decode(_))
        ));
        assert!(matches!(
            reader.read::<ClientMsg>().await,
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn only_the_canonical_encoding_decodes() {
        // Ping { nonce: 0 }: variant 5, then the varint 0.
        assert_eq!(
            decode_payload::<ClientMsg>(&[5, 0]).unwrap(),
            ClientMsg::Ping { nonce: 0 }
        );
        // The same value with an over-long varint, and with a trailing byte.
        for bytes in [&[5, 0x80, 0][..], &[0x85, 0, 0], &[5, 0, 0]] {
            assert!(
                matches!(
                    decode_payload::<ClientMsg>(bytes),
                    Err(FrameError::NotCanonical)
                ),
                "{bytes:?}"
            );
        }
        // Longer values round-trip.
        let send = ClientMsg::Send {
            client_id: ClientMsgId(u64::MAX),
            to: Recipient::Everyone,
            content: Content::Text("界".repeat(100)),
        };
        let frame = encode_frame(&send).unwrap();
        assert_eq!(decode_payload::<ClientMsg>(&frame[4..]).unwrap(), send);
    }

    #[tokio::test]
    async fn read_frame_leaves_following_bytes_in_the_stream() {
        let (mut a, mut b) = tokio::io::duplex(64);
        write_frame(&mut a, &ClientMsg::Logout).await.unwrap();
        a.write_all(b"raw").await.unwrap();
        drop(a);
        let msg: ClientMsg = read_frame(&mut b, 100).await.unwrap().unwrap();
        assert_eq!(msg, ClientMsg::Logout);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"raw");
    }
}

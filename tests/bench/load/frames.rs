//! Length-prefixed frames off a quinn stream without a copy per frame:
//! chunks go into one growing buffer and each frame is lent out as a slice,
//! so a load driver reading thousands of streams costs little.

use std::ops::Range;

/// The frames of one receive stream.
pub struct Frames {
    recv: quinn::RecvStream,
    buf: Vec<u8>,
    start: usize,
}

impl Frames {
    pub fn new(recv: quinn::RecvStream) -> Self {
        Self {
            recv,
            buf: Vec::with_capacity(4096),
            start: 0,
        }
    }

    /// The next frame's payload, or `None` at the end of the stream.
    /// Cancel-safe: a partly received frame stays buffered.
    pub async fn next(&mut self) -> anyhow::Result<Option<&[u8]>> {
        loop {
            if let Some(range) = self.complete() {
                self.start = range.end;
                return Ok(Some(&self.buf[range]));
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            match self.recv.read_chunk(64 * 1024, true).await? {
                Some(chunk) => self.buf.extend_from_slice(&chunk.bytes),
                None => return Ok(None),
            }
        }
    }

    /// Where the next whole frame's payload is in the buffer, if it is all
    /// there.
    fn complete(&self) -> Option<Range<usize>> {
        let avail = &self.buf[self.start..];
        let len = u32::from_le_bytes(avail.get(..4)?.try_into().ok()?) as usize;
        let begin = self.start + 4;
        (avail.len() >= 4 + len).then_some(begin..begin + len)
    }
}

//! What every fan-out message carries so each recipient can time and
//! check it: the send time on the driver's one monotonic clock, the
//! sender's index and its per-sender sequence number, as fixed-width hex at
//! the start of the text, padded to the body size.

/// Header bytes: `{ns:016x} {sender:04x} {seq:08x} `.
pub const HEADER: usize = 31;

/// One message's identity and send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sent_ns: u64,
    pub sender: usize,
    pub seq: u32,
}

impl Stamp {
    /// The text of `body` bytes (at least [`HEADER`]) carrying this stamp.
    pub fn text(&self, body: usize) -> String {
        let mut text = format!(
            "{:016x} {:04x} {:08x} ",
            self.sent_ns, self.sender, self.seq
        );
        text.extend(std::iter::repeat_n('.', body.saturating_sub(HEADER)));
        text
    }

    /// The stamp at the start of `text`, if it has one.
    pub fn parse(text: &str) -> Option<Self> {
        let header = text.get(..HEADER)?;
        let hex = |range: std::ops::Range<usize>| u64::from_str_radix(header.get(range)?, 16).ok();
        Some(Self {
            sent_ns: hex(0..16)?,
            sender: hex(17..21)? as usize,
            seq: hex(22..30)? as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_any_body_size() {
        let stamp = Stamp {
            sent_ns: 123_456_789_012,
            sender: 7,
            seq: 42,
        };
        for body in [0, HEADER, 100, 1000] {
            let text = stamp.text(body);
            assert_eq!(text.len(), body.max(HEADER));
            assert_eq!(Stamp::parse(&text), Some(stamp));
        }
        assert_eq!(Stamp::parse("hello"), None);
    }
}

//! What one recipient saw during a fan-out run: a latency per delivery,
//! and per sender which sequence numbers arrived, so duplicates and
//! deliveries out of order are counted exactly.

use super::stamp::Stamp;

/// One recipient's record.
#[derive(Default)]
pub struct Tally {
    /// Receive time minus embedded send time, per first delivery, in µs.
    pub latencies_us: Vec<u32>,
    pub duplicates: u64,
    /// Deliveries older than one already seen from the same sender.
    pub order_anomalies: u64,
    /// Receive time of the last delivery, ns on the driver's clock.
    pub last_ns: u64,
    /// Per sender: a bit per sequence number seen, and the next expected.
    seen: Vec<Vec<u64>>,
    next: Vec<u32>,
}

impl Tally {
    /// Room for `senders` senders and about `expected` deliveries, so
    /// recording allocates nothing in the common case.
    pub fn new(senders: usize, expected: usize) -> Self {
        Self {
            latencies_us: Vec::with_capacity(expected),
            seen: vec![Vec::new(); senders],
            next: vec![0; senders],
            ..Self::default()
        }
    }

    /// Records a delivery of `stamp` received at `now_ns`; false if the
    /// stamp names no sender of this run.
    pub fn record(&mut self, stamp: Stamp, now_ns: u64) -> bool {
        let Some(seen) = self.seen.get_mut(stamp.sender) else {
            return false;
        };
        let (word, bit) = (stamp.seq as usize / 64, 1u64 << (stamp.seq % 64));
        if seen.len() <= word {
            seen.resize(word + 1, 0);
        }
        if seen[word] & bit != 0 {
            self.duplicates += 1;
            return true;
        }
        seen[word] |= bit;
        let latency = now_ns.saturating_sub(stamp.sent_ns) / 1000;
        self.latencies_us.push(latency.min(u32::MAX.into()) as u32);
        self.last_ns = self.last_ns.max(now_ns);
        let next = &mut self.next[stamp.sender];
        if stamp.seq < *next {
            self.order_anomalies += 1;
        }
        *next = (*next).max(stamp.seq + 1);
        true
    }
}

/// Every recipient's tally together.
pub struct Totals {
    /// Sorted, in ms.
    pub latencies_ms: Vec<f64>,
    pub duplicates: u64,
    pub order_anomalies: u64,
    pub last_ns: u64,
}

impl Totals {
    pub fn of(tallies: impl IntoIterator<Item = Tally>) -> Self {
        let mut totals = Self {
            latencies_ms: Vec::new(),
            duplicates: 0,
            order_anomalies: 0,
            last_ns: 0,
        };
        for tally in tallies {
            let ms = tally.latencies_us.iter().map(|&us| f64::from(us) / 1000.0);
            totals.latencies_ms.extend(ms);
            totals.duplicates += tally.duplicates;
            totals.order_anomalies += tally.order_anomalies;
            totals.last_ns = totals.last_ns.max(tally.last_ns);
        }
        totals.latencies_ms.sort_by(|a, b| a.total_cmp(b));
        totals
    }

    /// First deliveries.
    pub fn deliveries(&self) -> u64 {
        self.latencies_ms.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(sender: usize, seq: u32) -> Stamp {
        Stamp {
            sent_ns: 0,
            sender,
            seq,
        }
    }

    #[test]
    fn counts_duplicates_and_late_arrivals_per_sender() {
        let mut tally = Tally::new(2, 8);
        for (sender, seq) in [(0, 0), (1, 0), (0, 2), (0, 1), (0, 2), (1, 1)] {
            assert!(tally.record(stamp(sender, seq), 1000));
        }
        assert!(!tally.record(stamp(5, 0), 1000));
        assert_eq!(tally.duplicates, 1);
        assert_eq!(tally.order_anomalies, 1);
        assert_eq!(tally.latencies_us.len(), 5);
    }
}

//! The delay before the next reconnect (and before resending after the
//! server said "unavailable"): exponential, capped and jittered.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff between reconnect attempts: 200 ms doubling to
/// 10 s, each delay shortened by a random part of up to a quarter so
/// clients cut off together do not come back together.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    attempt: u32,
}

const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

impl Backoff {
    pub(super) fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let base = BACKOFF_FIRST
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(BACKOFF_MAX);
        self.attempt = self.attempt.saturating_add(1);
        base.mul_f64(rng.gen_range(0.75..=1.0))
    }

    pub(super) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn backoff_doubles_from_200ms_to_10s_with_jitter() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut backoff = Backoff::default();
        let delays: Vec<Duration> = (0..30).map(|_| backoff.next_delay(&mut rng)).collect();
        assert!(delays[0] >= Duration::from_millis(150) && delays[0] <= Duration::from_millis(200));
        assert!(delays[1] >= Duration::from_millis(300) && delays[1] <= Duration::from_millis(400));
        for d in &delays {
            assert!(*d <= BACKOFF_MAX, "{d:?}");
        }
        for d in &delays[10..] {
            assert!(*d >= BACKOFF_MAX.mul_f64(0.75), "{d:?}");
        }
        assert!(
            delays[10..].windows(2).any(|w| w[0] != w[1]),
            "jitter varies the delays"
        );
        backoff.reset();
        assert!(backoff.next_delay(&mut rng) <= BACKOFF_FIRST);
    }
}

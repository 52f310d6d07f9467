//! The window rule against a simulated bottleneck: a link of a given rate,
//! a base round trip and a drop-tail buffer, driven packet by packet by an
//! event queue (no sockets, no clocks: the same numbers every run).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::*;

const MSS: u64 = 1200;

struct Link {
    mbit: f64,
    rtt_ms: u64,
    buffer_ms: u64,
}

#[derive(Debug)]
struct Outcome {
    /// Delivered bytes over the link's capacity, after the warm-up.
    utilization: f64,
    /// Queueing delay met by packets after the warm-up, in ms.
    queue_p50: f64,
    queue_p99: f64,
    /// The largest queueing delay of the whole run, slow start included.
    queue_max: f64,
    losses: usize,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Ack { sent: u64 },
    Loss { sent: u64 },
}

/// Runs a bulk sender for `secs` through `link` and measures the last
/// `secs - warmup` seconds.
fn simulate(link: &Link, secs: f64, warmup: f64) -> Outcome {
    let start = Instant::now();
    let at = |ns: u64| start + Duration::from_nanos(ns);
    let rate = link.mbit * 1e6 / 8.0; // bytes per second
    let per_packet = (MSS as f64 / rate * 1e9) as u64;
    let (rtt, buffer) = (link.rtt_ms * 1_000_000, link.buffer_ms * 1_000_000);
    let (end, warm) = ((secs * 1e9) as u64, (warmup * 1e9) as u64);

    let mut cc = DelayWindow::new(LowDelayConfig::default(), start, MSS as u16);
    let mut events = BinaryHeap::new();
    let (mut now, mut busy_until, mut in_flight) = (0u64, 0u64, 0u64);
    let (mut delivered, mut losses, mut queue) = (0u64, 0usize, Vec::new());
    let mut queue_max = 0u64;
    loop {
        while in_flight + MSS <= cc.window() {
            let backlog = busy_until.saturating_sub(now);
            in_flight += MSS;
            if backlog > buffer {
                losses += 1;
                events.push(Reverse((now + rtt + backlog, Event::Loss { sent: now })));
                continue;
            }
            if now >= warm {
                queue.push(backlog as f64 / 1e6);
            }
            queue_max = queue_max.max(backlog);
            busy_until = busy_until.max(now) + per_packet;
            events.push(Reverse((busy_until + rtt, Event::Ack { sent: now })));
        }
        let Some(Reverse((t, event))) = events.pop() else {
            break;
        };
        now = t;
        if now >= end {
            break;
        }
        in_flight -= MSS;
        match event {
            Event::Ack { sent } => {
                if now >= warm {
                    delivered += MSS;
                }
                cc.on_ack(at(now), at(sent), MSS, false);
                cc.on_end_acks(at(now), in_flight);
            }
            Event::Loss { sent } => cc.on_loss(at(now), at(sent), false),
        }
    }
    queue.sort_by(f64::total_cmp);
    let pick = |p: f64| queue[((queue.len() - 1) as f64 * p) as usize];
    Outcome {
        utilization: delivered as f64 / (rate * (secs - warmup)),
        queue_p50: pick(0.5),
        queue_p99: pick(0.99),
        queue_max: queue_max as f64 / 1e6,
        losses,
    }
}

/// The links of issue 10, the loopback-like case, and a slow one.
const LINKS: &[Link] = &[
    Link {
        mbit: 20.0,
        rtt_ms: 40,
        buffer_ms: 200,
    },
    Link {
        mbit: 20.0,
        rtt_ms: 40,
        buffer_ms: 500,
    },
    Link {
        mbit: 100.0,
        rtt_ms: 20,
        buffer_ms: 100,
    },
    Link {
        mbit: 5.0,
        rtt_ms: 60,
        buffer_ms: 1000,
    },
    Link {
        mbit: 1000.0,
        rtt_ms: 1,
        buffer_ms: 20,
    },
];

#[test]
fn fills_each_link_and_holds_its_queue_near_the_target() {
    let target = LowDelayConfig::default().target.as_secs_f64() * 1e3;
    for link in LINKS {
        let out = simulate(link, 10.0, 3.0);
        println!(
            "{} Mbit/s {} ms {} ms: {out:?}",
            link.mbit, link.rtt_ms, link.buffer_ms
        );
        assert!(out.utilization >= 0.95, "{} Mbit/s: {out:?}", link.mbit);
        assert!(
            out.queue_p99 <= target + 5.0,
            "{} Mbit/s: {out:?}",
            link.mbit
        );
        assert!(out.queue_p50 >= 1.0, "the queue never empties: {out:?}");
        assert!(
            out.queue_max <= 2.0 * target + 5.0,
            "slow start overshoots: {out:?}"
        );
        assert_eq!(out.losses, 0, "{} Mbit/s: {out:?}", link.mbit);
    }
}

#[test]
fn a_queue_over_the_target_shrinks_the_window_within_a_round_trip() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut cc = DelayWindow::new(LowDelayConfig::default(), t0, 1200);
    // A 40 ms path learned, then slow start ends.
    cc.on_ack(ms(40), ms(0), 1200, false);
    cc.on_end_acks(ms(40), cc.window());
    let mut t = 41;
    for _ in 0..40 {
        cc.on_ack(ms(t + 40), ms(t), 1200, false);
        cc.on_end_acks(ms(t + 40), cc.window());
        t += 1;
    }
    let before = cc.window();
    // Then every packet queues for 60 ms: six times the target.
    for _ in 0..(before / 1200) {
        cc.on_ack(ms(t + 100), ms(t), 1200, false);
        cc.on_end_acks(ms(t + 100), cc.window());
        t += 1;
    }
    assert_eq!(cc.queueing_delay(), Duration::from_millis(60));
    assert!(
        cc.window() <= before * 85 / 100,
        "{} -> {}",
        before,
        cc.window()
    );
}

#[test]
fn app_limited_acks_do_not_grow_the_window() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut cc = DelayWindow::new(LowDelayConfig::default(), t0, 1200);
    let first = cc.window();
    for t in 1..1000 {
        cc.on_ack(ms(t + 20), ms(t), 1200, true);
        cc.on_end_acks(ms(t + 20), cc.window());
    }
    assert_eq!(cc.window(), first);
}

#[test]
fn a_window_the_sender_does_not_fill_does_not_grow() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut cc = DelayWindow::new(LowDelayConfig::default(), t0, 1200);
    let first = cc.window();
    // Flow control holds the sender to two packets in flight.
    for t in 1..1000 {
        cc.on_ack(ms(t + 20), ms(t), 1200, false);
        cc.on_end_acks(ms(t + 20), 1200);
    }
    assert_eq!(cc.window(), first);
}

#[test]
fn a_loss_halves_the_window_once_per_recovery() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut cc = DelayWindow::new(LowDelayConfig::default(), t0, 1200);
    let first = cc.window();
    cc.on_loss(ms(50), ms(10), false);
    assert_eq!(cc.window(), first / 2);
    // Another packet of the same flight: same recovery period.
    cc.on_loss(ms(51), ms(20), false);
    assert_eq!(cc.window(), first / 2);
    cc.on_loss(ms(100), ms(60), true);
    assert_eq!(cc.window(), 2 * 1200, "persistent congestion: the minimum");
}

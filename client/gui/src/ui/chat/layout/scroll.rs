//! How the message list scrolls: eased towards a target, by wheel and
//! page keys, and how many messages arrived below a reader scrolled up.

/// How far one notch of the wheel scrolls.
const WHEEL_STEP: f32 = 72.0;

/// Scroll position: distance from the bottom (0 = newest in view), eased
/// towards `target`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scroll {
    pub offset: f32,
    pub target: f32,
}

impl Scroll {
    /// The wheel turned `wheel` notches (positive: towards older).
    pub fn wheel(&mut self, wheel: f32) {
        self.target += wheel.signum() * WHEEL_STEP * wheel.abs().min(5.0);
    }

    /// Page Up (`up`) or Page Down in a view `view_h` high.
    pub fn page(&mut self, up: bool, view_h: f32) {
        if up {
            self.target += view_h * 0.85;
        } else {
            self.target -= view_h * 0.85;
        }
    }

    /// One frame of easing towards the target, both kept within
    /// `0..=max`; true while it still moves.
    pub fn ease(&mut self, dt: f32, max: f32) -> bool {
        self.target = self.target.clamp(0.0, max);
        let k = 1.0 - (-dt * 16.0).exp();
        self.offset += (self.target - self.offset) * k;
        let moving = (self.offset - self.target).abs() >= 0.5;
        if !moving {
            self.offset = self.target;
        }
        self.offset = self.offset.clamp(0.0, max);
        moving
    }

    /// Whether it has still some way to go.
    pub fn easing(&self) -> bool {
        (self.offset - self.target).abs() > 0.5
    }
}

/// How many of the newest messages (keys newest first, at most 100
/// counted) came after `seen`, the newest one the reader saw at the bottom.
pub fn unseen<K: PartialEq>(newest_first: impl Iterator<Item = K>, seen: Option<K>) -> usize {
    let recent = newest_first.take(100);
    match seen {
        Some(seen) => recent.take_while(|k| *k != seen).count(),
        None => recent.count(),
    }
}

/// The label of the button that jumps down to `n` unseen messages.
pub fn new_messages_label(n: usize) -> String {
    if n >= 100 {
        "99+ new messages".to_owned()
    } else if n == 1 {
        "1 new message".to_owned()
    } else {
        format!("{n} new messages")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrolling_eases_to_its_target_within_bounds() {
        let mut scroll = Scroll::default();
        scroll.wheel(2.0);
        assert_eq!(scroll.target, 2.0 * WHEEL_STEP);
        scroll.page(true, 100.0);
        scroll.target += 10_000.0;
        let mut frames = 0;
        while scroll.ease(1.0 / 60.0, 500.0) {
            frames += 1;
            assert!(frames < 200, "it settles");
        }
        assert_eq!((scroll.offset, scroll.target), (500.0, 500.0));
        assert!(!scroll.easing());
        scroll.page(false, 10_000.0);
        assert!(scroll.ease(1.0 / 60.0, 500.0));
        assert_eq!(scroll.target, 0.0);
    }

    #[test]
    fn unseen_messages_are_counted_to_ninety_nine_plus() {
        assert_eq!(unseen([5, 4, 3, 2].into_iter(), Some(3)), 2);
        assert_eq!(unseen([5, 4].into_iter(), Some(5)), 0);
        assert_eq!(unseen(0..500, None), 100);
        assert_eq!(new_messages_label(1), "1 new message");
        assert_eq!(new_messages_label(7), "7 new messages");
        assert_eq!(new_messages_label(100), "99+ new messages");
    }
}

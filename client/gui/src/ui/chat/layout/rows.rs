//! Message rows laid out one under the other: messages from one sender
//! grouped under one header, a separator for each new day, a line for why
//! one was not sent; kept per conversation and width, the rows in view
//! found by binary search, the reader's place kept when rows change.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use macroquad::math::Rect;
use natter_common::{Content, UserName};

use crate::ui::chat::layout::bubbles::{Body, Bubbles, Measure, Wraps};
use crate::ui::chat::layout::room::LIST_PAD_X;
use crate::ui::chat::layout::scroll::Scroll;

/// Room above the first message, for the note on the history's beginning.
pub const LIST_TOP_PAD: f32 = 56.0;
pub const DAY_SEPARATOR: f32 = 44.0;
pub const HEADER_LINE: f32 = 22.0;
/// Room left of others' messages for their avatars.
pub const AVATAR_GUTTER: f32 = 44.0;
/// Messages from one sender closer than this share one header.
const GROUP_GAP_MS: i64 = 5 * 60 * 1000;

/// What the layout needs to know of one message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a, K> {
    /// What identifies it across frames (its wrapped text is kept by it).
    pub key: K,
    pub from: &'a UserName,
    /// Its local calendar day: a new day gets a separator.
    pub day: i32,
    /// When it was sent, in milliseconds.
    pub sent_at: i64,
    pub content: &'a Content,
    /// Refused: a line under it says why.
    pub failed: bool,
}

/// One laid-out message.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its top, in content coordinates (0 = the top of the history).
    pub y: f32,
    pub h: f32,
    pub day_separator: bool,
    /// Whether it starts with the sender's name (else it joins the
    /// message above).
    pub header: bool,
    /// Height of the bubble (or emoji, picture).
    pub body_h: f32,
    pub body_w: f32,
    pub body: Body,
}

/// Where the parts of one row go on the screen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowPlaces {
    /// The top of the row (and of its day separator).
    pub top: f32,
    /// The top of the sender's line, when the row has one.
    pub header: f32,
    pub body: Rect,
    /// Where others' messages start, and where ours end.
    pub left: f32,
    pub right: f32,
}

impl Row {
    /// The row's parts in a list drawn at `list`, its content moved down
    /// by `shift`; our own messages (`mine`) sit on the right.
    pub fn places(&self, list: Rect, shift: f32, mine: bool) -> RowPlaces {
        let top = self.y + shift;
        let mut y = top;
        if self.day_separator {
            y += DAY_SEPARATOR;
        }
        let header = y + 8.0;
        y = if self.header {
            header + HEADER_LINE
        } else {
            y + 3.0
        };
        let left = list.x + LIST_PAD_X + AVATAR_GUTTER;
        let right = list.x + list.w - LIST_PAD_X;
        let x = if mine { right - self.body_w } else { left };
        RowPlaces {
            top,
            header,
            body: Rect::new(x, y, self.body_w, self.body_h),
            left,
            right,
        }
    }
}

/// Which measurements a layout was made for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// The conversation's revision.
    pub revision: u64,
    /// The width the messages are laid out in.
    pub width: f32,
}

/// The measured rows of one conversation at one width.
#[derive(Debug)]
pub struct Layout<K> {
    stamp: Option<Stamp>,
    rows: Vec<Row>,
    keys: Vec<K>,
    total: f32,
    /// Wrapped text and its widest line by message, valid for the width
    /// of `stamp`.
    wraps: Wraps<K>,
}

impl<K> Default for Layout<K> {
    fn default() -> Self {
        Self {
            stamp: None,
            rows: Vec::new(),
            keys: Vec::new(),
            total: 0.0,
            wraps: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash> Layout<K> {
    /// The height of all rows.
    pub fn total(&self) -> f32 {
        self.total
    }

    /// The rows whose part reaches into a view `height` high whose top is
    /// at `top` (content coordinates), with their indices.
    pub fn visible(&self, top: f32, height: f32) -> impl Iterator<Item = (usize, &Row)> {
        let first = self.rows.partition_point(|r| r.y + r.h < top);
        self.rows
            .iter()
            .enumerate()
            .skip(first)
            .take_while(move |(_, r)| r.y <= top + height)
    }

    /// Brings the layout up to date for `stamp` (nothing to do when it is
    /// already); a reader scrolled up in a view `view_h` high keeps the
    /// row at the top of the view where it was. True if it was rebuilt.
    pub fn update<'a>(
        &mut self,
        m: &impl Measure,
        messages: impl ExactSizeIterator<Item = Message<'a, K>>,
        stamp: Stamp,
        scroll: &mut Scroll,
        view_h: f32,
    ) -> bool
    where
        K: 'a,
    {
        let current = self
            .stamp
            .is_some_and(|s| s.revision == stamp.revision && (s.width - stamp.width).abs() < 0.5);
        if current {
            return false;
        }
        let anchor = self.anchor(scroll, view_h);
        self.rebuild(m, messages, stamp);
        if let Some(anchor) = anchor {
            self.restore(anchor, scroll, view_h);
        }
        true
    }

    /// The row at the top of the view, and how far into it the view
    /// starts; `None` when the reader is at the bottom.
    fn anchor(&self, scroll: &Scroll, view_h: f32) -> Option<(K, f32)> {
        if self.stamp.is_none() || scroll.offset <= 0.5 || self.total <= view_h {
            return None;
        }
        let top = self.total - view_h - scroll.offset;
        let i = self
            .rows
            .partition_point(|r| r.y + r.h <= top)
            .min(self.rows.len().saturating_sub(1));
        self.rows.get(i).map(|r| (self.keys[i], top - r.y))
    }

    /// Scrolls so that the anchor row is where it was at the view's top.
    fn restore(&self, (key, delta): (K, f32), scroll: &mut Scroll, view_h: f32) {
        if let Some(i) = self.keys.iter().rposition(|k| *k == key) {
            let new_top = self.rows[i].y + delta;
            let offset = (self.total - view_h - new_top).max(0.0);
            let shift = offset - scroll.offset;
            scroll.offset = offset;
            scroll.target = (scroll.target + shift).max(0.0);
        }
    }

    fn rebuild<'a>(
        &mut self,
        m: &impl Measure,
        messages: impl ExactSizeIterator<Item = Message<'a, K>>,
        stamp: Stamp,
    ) where
        K: 'a,
    {
        if self
            .stamp
            .is_none_or(|s| (s.width - stamp.width).abs() >= 0.5)
        {
            self.wraps.clear();
        }
        self.stamp = Some(stamp);
        let bubbles = Bubbles::new(m, stamp.width);
        let count = messages.len();
        let mut rows = Vec::with_capacity(count);
        let mut keys = Vec::with_capacity(count);
        let mut y = LIST_TOP_PAD;
        let mut prev: Option<Message<K>> = None;
        for message in messages {
            let row = lay_out_row(&bubbles, m, &mut self.wraps, &message, prev.as_ref(), y);
            y += row.h;
            rows.push(row);
            keys.push(message.key);
            prev = Some(message);
        }
        // Keep only the wraps still in use.
        if self.wraps.len() > count + 64 {
            let live: HashSet<K> = keys.iter().copied().collect();
            self.wraps.retain(|k, _| live.contains(k));
        }
        self.rows = rows;
        self.keys = keys;
        self.total = y + 12.0;
    }
}

/// Lays out `message` at `y`, under `prev`.
fn lay_out_row<K: Copy + Eq + Hash>(
    bubbles: &Bubbles,
    m: &impl Measure,
    wraps: &mut Wraps<K>,
    message: &Message<K>,
    prev: Option<&Message<K>>,
    y: f32,
) -> Row {
    let day_separator = prev.is_none_or(|p| p.day != message.day);
    let header = day_separator
        || prev.is_none_or(|p| {
            !p.from.same_account(message.from) || message.sent_at - p.sent_at > GROUP_GAP_MS
        });
    let (body, body_w, body_h) = bubbles.body(m, wraps, message.key, message.content);
    let mut h = body_h + if header { HEADER_LINE + 8.0 } else { 3.0 };
    if day_separator {
        h += DAY_SEPARATOR;
    }
    if message.failed {
        h += 20.0;
    }
    Row {
        y,
        h,
        day_separator,
        header,
        body_h,
        body_w,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::chat::layout::bubbles::tests::Fixed;

    const MINUTE: i64 = 60_000;

    fn name(s: &str) -> UserName {
        UserName::parse(s).expect("user name")
    }

    fn text(s: &str) -> Content {
        Content::Text(s.to_owned())
    }

    /// Messages keyed by their index: (sender, day, minute, content).
    fn messages<'a>(
        list: &'a [(UserName, i32, i64, Content)],
    ) -> impl ExactSizeIterator<Item = Message<'a, usize>> {
        list.iter()
            .enumerate()
            .map(|(key, (from, day, minute, content))| Message {
                key,
                from,
                day: *day,
                sent_at: minute * MINUTE,
                content,
                failed: false,
            })
    }

    fn laid_out(list: &[(UserName, i32, i64, Content)], width: f32) -> Layout<usize> {
        let mut layout = Layout::default();
        let stamp = Stamp { revision: 1, width };
        layout.update(&Fixed, messages(list), stamp, &mut Scroll::default(), 400.0);
        layout
    }

    #[test]
    fn one_sender_within_minutes_shares_a_header_and_a_day_a_separator() {
        let (alice, bob) = (name("alice"), name("bob"));
        let list = [
            (alice.clone(), 1, 0, text("hi")),
            (alice.clone(), 1, 2, text("still me")),
            (alice.clone(), 1, 9, text("later")),
            (bob, 1, 10, text("bob")),
            (alice, 2, 11, text("next day")),
        ];
        let layout = laid_out(&list, 600.0);
        let rows = &layout.rows;
        let headers: Vec<bool> = rows.iter().map(|r| r.header).collect();
        assert_eq!(headers, [true, false, true, true, true]);
        let days: Vec<bool> = rows.iter().map(|r| r.day_separator).collect();
        assert_eq!(days, [true, false, false, false, true]);
        // Rows follow each other; the total leaves a margin below.
        assert_eq!(rows[0].y, LIST_TOP_PAD);
        for pair in rows.windows(2) {
            assert_eq!(pair[1].y, pair[0].y + pair[0].h);
        }
        let last = rows.last().unwrap();
        assert_eq!(layout.total(), last.y + last.h + 12.0);
        assert_eq!(rows[1].h, rows[1].body_h + 3.0);
    }

    #[test]
    fn a_failed_message_gets_a_line_for_the_reason() {
        let alice = name("alice");
        let content = text("hi");
        let message = |failed| Message {
            key: 0usize,
            from: &alice,
            day: 1,
            sent_at: 0,
            content: &content,
            failed,
        };
        let stamp = Stamp {
            revision: 1,
            width: 600.0,
        };
        let height = |failed| {
            let mut layout = Layout::default();
            let messages = [message(failed)].into_iter();
            layout.update(&Fixed, messages, stamp, &mut Scroll::default(), 400.0);
            layout.rows[0].h
        };
        assert_eq!(height(true), height(false) + 20.0);
    }

    #[test]
    fn only_the_rows_in_view_are_visited() {
        let alice = name("alice");
        let list: Vec<_> = (0..1000)
            .map(|i| (alice.clone(), 1, i * 10, text("hello")))
            .collect();
        let layout = laid_out(&list, 600.0);
        let top = layout.rows[500].y + 1.0;
        let seen: Vec<usize> = layout.visible(top, 300.0).map(|(i, _)| i).collect();
        assert_eq!(seen.first(), Some(&500));
        assert!(seen.len() < 20, "{seen:?}");
        let last = &layout.rows[*seen.last().unwrap()];
        assert!(last.y <= top + 300.0);
        assert!(layout.rows[seen.last().unwrap() + 1].y > top + 300.0);
    }

    #[test]
    fn a_layout_is_rebuilt_only_for_a_new_revision_or_width() {
        let alice = name("alice");
        let list = [(alice, 1, 0, text("hi"))];
        let mut layout = Layout::default();
        let mut scroll = Scroll::default();
        let stamp = Stamp {
            revision: 1,
            width: 600.0,
        };
        assert!(layout.update(&Fixed, messages(&list), stamp, &mut scroll, 400.0));
        assert!(!layout.update(&Fixed, messages(&list), stamp, &mut scroll, 400.0));
        let wider = Stamp {
            width: 600.2,
            ..stamp
        };
        assert!(!layout.update(&Fixed, messages(&list), wider, &mut scroll, 400.0));
        let newer = Stamp {
            revision: 2,
            ..stamp
        };
        assert!(layout.update(&Fixed, messages(&list), newer, &mut scroll, 400.0));
    }

    #[test]
    fn older_messages_arriving_above_keep_the_reading_position() {
        let alice = name("alice");
        let page = |from: i64| -> Vec<_> {
            (from..from + 50)
                .map(|i| (alice.clone(), 1, i * 10, text("hello")))
                .collect()
        };
        let newer = page(50);
        fn keyed(list: &[(UserName, i32, i64, Content)], first: usize) -> Vec<Message<'_, usize>> {
            messages(list)
                .map(|m| Message {
                    key: m.key + first,
                    ..m
                })
                .collect()
        }
        let mut layout = Layout::default();
        let mut scroll = Scroll::default();
        let view_h = 300.0;
        let stamp = Stamp {
            revision: 1,
            width: 600.0,
        };
        layout.update(
            &Fixed,
            keyed(&newer, 50).into_iter(),
            stamp,
            &mut scroll,
            view_h,
        );
        // Scrolled up: the view's top is partway into message 60.
        scroll.offset = layout.total() - view_h - (layout.rows[10].y + 5.0);
        scroll.target = scroll.offset;
        let older = page(0);
        let mut all = keyed(&older, 0);
        all.extend(keyed(&newer, 50));
        let stamp = Stamp {
            revision: 2,
            ..stamp
        };
        layout.update(&Fixed, all.into_iter(), stamp, &mut scroll, view_h);
        let top = layout.total() - view_h - scroll.offset;
        assert!((top - (layout.rows[60].y + 5.0)).abs() < 0.01);
        assert_eq!(scroll.target, scroll.offset);
    }

    #[test]
    fn a_mine_row_sits_right_and_others_after_the_avatar_gutter() {
        let row = Row {
            y: 100.0,
            h: 80.0,
            day_separator: true,
            header: true,
            body_h: 40.0,
            body_w: 200.0,
            body: Body::File,
        };
        let list = Rect::new(250.0, 56.0, 900.0, 600.0);
        let mine = row.places(list, 10.0, true);
        assert_eq!(mine.top, 110.0);
        assert_eq!(mine.header, 110.0 + DAY_SEPARATOR + 8.0);
        assert_eq!(mine.body.y, mine.header + HEADER_LINE);
        assert_eq!(mine.body.x + mine.body.w, list.x + list.w - LIST_PAD_X);
        let theirs = row.places(list, 10.0, false);
        assert_eq!(theirs.body.x, list.x + LIST_PAD_X + AVATAR_GUTTER);
    }
}

//! The emoji catalogue. Emoji travel as small ids; both ends agree on what
//! each id means through this table. The first seven are the student
//! project's feelings. Clients draw them with their own art; an id a client
//! does not know (from a newer server) is drawn as a placeholder.

use serde::{Deserialize, Serialize};

/// Catalogue index of an emoji. Any value decodes; [`EmojiId::emoji`] says
/// whether this build knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmojiId(pub u16);

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emoji {
    pub id: EmojiId,
    /// Stable ASCII key, also used by the CLI (`:happy:`).
    pub key: &'static str,
    /// English label.
    pub label: &'static str,
    /// Chinese label, as in the student project.
    pub label_zh: &'static str,
}

macro_rules! catalogue {
    ($($id:literal $key:literal $label:literal $zh:literal;)*) => {
        /// Every emoji this build knows, in picker order.
        pub const CATALOGUE: &[Emoji] = &[
            $(Emoji { id: EmojiId($id), key: $key, label: $label, label_zh: $zh },)*
        ];
    };
}

catalogue! {
    0 "happy" "Happy" "开心";
    1 "cute" "Cute" "可爱";
    2 "love" "Love" "喜欢";
    3 "tears_of_joy" "Tears of joy" "笑哭";
    4 "crying" "Crying" "大哭";
    5 "sweat" "Sweat" "流汗";
    6 "upset" "Upset" "难过";
    7 "wink" "Wink" "眨眼";
    8 "surprised" "Surprised" "惊讶";
    9 "angry" "Angry" "生气";
    10 "cool" "Cool" "酷";
    11 "thinking" "Thinking" "思考";
    12 "sleepy" "Sleepy" "困";
    13 "thumbs_up" "Thumbs up" "赞";
    14 "heart" "Heart" "爱心";
    15 "party" "Party" "庆祝";
}

impl EmojiId {
    /// The catalogue entry, if this build knows the id.
    pub fn emoji(self) -> Option<&'static Emoji> {
        CATALOGUE.iter().find(|e| e.id == self)
    }
}

impl Emoji {
    /// Looks an emoji up by its key (`happy`) or its Chinese label (`开心`).
    pub fn by_key(key: &str) -> Option<&'static Emoji> {
        CATALOGUE
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key) || e.label_zh == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_the_seven_feelings_and_unique_ids() {
        for key in [
            "happy",
            "cute",
            "love",
            "tears_of_joy",
            "crying",
            "sweat",
            "upset",
        ] {
            assert!(Emoji::by_key(key).is_some(), "{key}");
        }
        for (i, e) in CATALOGUE.iter().enumerate() {
            assert_eq!(e.id.0 as usize, i);
        }
        assert!(EmojiId(999).emoji().is_none());
    }
}

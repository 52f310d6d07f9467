//! Identifiers and small value types shared by both ends. Each is a newtype,
//! so a message id cannot be passed where a client id is expected, and the
//! ones with rules ([`UserName`]) can only hold valid values.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::limits::MAX_NAME_CHARS;

/// Server-assigned id of a stored message. Ids grow in the order messages
/// were committed, so "the highest id I have seen" is a complete cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub u64);

/// Client-chosen id of an outgoing message. The server stores it with the
/// sender, so a message resent after a reconnect is recognised, not stored
/// twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientMsgId(pub u64);

/// Correlates a request (history page) with its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u32);

/// Milliseconds since the Unix epoch, UTC. Kept as an integer on the wire so
/// clients in any language read it without a date parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp_millis())
    }

    /// The same instant as a chrono value, for display and arithmetic.
    pub fn to_utc(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }
}

/// An opaque secret that lets a client resume its login without the
/// password. Shown to nobody; the server keeps only its hash.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionToken(pub [u8; 32]);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

/// BLAKE3 hash of a picture's or file's bytes: the blob's only name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(s, 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// SHA-256 of a server certificate (DER): what users compare and pin, like
/// an SSH host key fingerprint. Shown as `SHA256:` and 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Accepts the displayed form, bare hex, or hex with `:` or spaces.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s
            .strip_prefix("SHA256:")
            .or_else(|| s.strip_prefix("sha256:"))
            .unwrap_or(s);
        let digits: String = s.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
        BlobHash::from_hex(&digits.to_ascii_lowercase()).map(|h| Self(h.0))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHA256:{}", hex(&self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("not a SHA-256 fingerprint: {s:?}"))
    }
}

/// Lower-case hexadecimal of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Why a string is not a valid user name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a user name cannot be empty")]
    Empty,
    #[error("a user name has at most {MAX_NAME_CHARS} characters")]
    TooLong,
    #[error("a user name cannot contain {0:?}: use letters, digits, '_', '-' or '.'")]
    BadChar(char),
    #[error("a user name needs at least one letter or digit")]
    NoLetterOrDigit,
}

/// A valid user name: 1 to 32 letters (any script, so 张伟 is fine), digits,
/// `_`, `-` or `.`, at least one of them a letter or digit, in NFKC form.
/// Names are unique by their [`UserName::skeleton`], so `alice` and a
/// Cyrillic `аlice` cannot both exist; [`UserName::key`] tells spellings of
/// one name apart from others without regard to case.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    /// A name a person typed: normalised to NFKC (so full-width `ＡＢ` is
    /// `AB` and the ligature `ﬁ` is `fi`), then checked by every rule. Both
    /// ends use it before a name is registered or looked up.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        // NFKC may merge characters (jamo into syllables), so the limit is
        // checked after it; this bounds the work before it.
        if s.len() > 16 * MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        let name: String = s.nfkc().collect();
        let name = Self::stored(&name)?;
        if !name.0.chars().any(char::is_alphanumeric) {
            return Err(NameError::NoLetterOrDigit);
        }
        Ok(name)
    }

    /// A name as a server stores and sends it, kept exactly as spelled: only
    /// the length and character rules apply, so accounts registered before
    /// the stricter rules of [`UserName::parse`] keep their names (and this
    /// is what decoding a `UserName` field checks).
    pub fn stored(s: &str) -> Result<Self, NameError> {
        let count = s.chars().count();
        if count == 0 {
            return Err(NameError::Empty);
        }
        if count > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(NameError::BadChar(c));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form: two names with the same key are spellings of
    /// one account's name.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The form under which names are unique: NFKC, case-folded, then the
    /// confusable skeleton of Unicode TS #39, so names that look alike
    /// (`alice` and Cyrillic `аlice`, `rn` and `m`) have the same one.
    pub fn skeleton(&self) -> String {
        let folded: String = self.0.nfkc().collect::<String>().to_lowercase();
        unicode_security::skeleton(&folded).nfc().collect()
    }

    /// Whether two names denote the same account.
    pub fn same_account(&self, other: &UserName) -> bool {
        self.key() == other.key()
    }
}

impl TryFrom<String> for UserName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::stored(&s)
    }
}

impl From<UserName> for String {
    fn from(n: UserName) -> String {
        n.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_any_script_and_reject_controls() {
        assert!(UserName::parse("alice").is_ok());
        assert!(UserName::parse("张伟").is_ok());
        assert!(UserName::parse("a.b-c_d9").is_ok());
        assert_eq!(UserName::parse(""), Err(NameError::Empty));
        assert_eq!(UserName::parse(&"x".repeat(33)), Err(NameError::TooLong));
        assert_eq!(
            UserName::parse(&"x".repeat(1 << 20)),
            Err(NameError::TooLong)
        );
        assert!(UserName::parse(&"名".repeat(32)).is_ok());
        assert_eq!(UserName::parse("a b"), Err(NameError::BadChar(' ')));
        assert_eq!(UserName::parse("a\u{7}"), Err(NameError::BadChar('\u{7}')));
        assert_eq!(UserName::parse("../x"), Err(NameError::BadChar('/')));
    }

    fn skeleton(s: &str) -> String {
        UserName::parse(s).unwrap().skeleton()
    }

    #[test]
    fn look_alike_names_share_a_skeleton() {
        assert_eq!(skeleton("alice"), skeleton("\u{430}lice"), "Cyrillic а");
        assert_eq!(skeleton("Alice"), skeleton("aLICE"));
        assert_eq!(skeleton("paypal"), skeleton("p\u{430}yp\u{430}l"));
        assert_eq!(skeleton("rn"), skeleton("m"));
        assert_ne!(skeleton("alice"), skeleton("alicf"));
        // A Hangul syllable and its conjoining jamo are one name.
        assert_eq!(skeleton("\u{d55c}"), skeleton("\u{1112}\u{1161}\u{11ab}"));
    }

    #[test]
    fn names_are_stored_in_nfkc() {
        assert_eq!(UserName::parse("ＡＢ").unwrap().as_str(), "AB");
        assert_eq!(UserName::parse("\u{fb01}le").unwrap().as_str(), "file");
        assert_eq!(
            UserName::parse("\u{1112}\u{1161}\u{11ab}")
                .unwrap()
                .as_str(),
            "\u{d55c}"
        );
    }

    #[test]
    fn names_need_a_letter_or_digit() {
        for bad in [".", "..", "-", "_", "._-"] {
            assert_eq!(
                UserName::parse(bad),
                Err(NameError::NoLetterOrDigit),
                "{bad:?}"
            );
        }
        assert!(UserName::parse("a.").is_ok());
        assert!(UserName::parse("_7").is_ok());
        // A name an older server accepted still decodes, as it is spelled.
        assert_eq!(UserName::stored("..").unwrap().as_str(), "..");
        assert_eq!(
            UserName::stored("\u{fb01}le").unwrap().as_str(),
            "\u{fb01}le"
        );
    }

    #[test]
    fn names_compare_without_case() {
        let a = UserName::parse("Alice").unwrap();
        let b = UserName::parse("aLICE").unwrap();
        assert!(a.same_account(&b));
        assert_eq!(a.as_str(), "Alice");
    }

    #[test]
    fn invalid_names_fail_to_decode() {
        let bytes = postcard::to_stdvec(&"bad name".to_string()).unwrap();
        assert!(postcard::from_bytes::<UserName>(&bytes).is_err());
    }

    #[test]
    fn fingerprints_parse_in_every_shown_form() {
        let f = Fingerprint([0x1f; 32]);
        assert_eq!(Fingerprint::parse(&f.to_string()), Some(f));
        assert_eq!(Fingerprint::parse(&"1F:".repeat(32)), Some(f));
        assert_eq!(Fingerprint::parse("1f1f"), None);
    }

    #[test]
    fn blob_hash_hex_round_trips() {
        let h = BlobHash([0xab; 32]);
        assert_eq!(BlobHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(BlobHash::from_hex("zz"), None);
    }
}

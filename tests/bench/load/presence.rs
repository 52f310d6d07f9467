//! Presence frames told apart without decoding them. A room filling up
//! sends every session a `Joined` per later login and each login an
//! `Online` list of everyone (O(N²) frames and names in all); decoding
//! them would make the driver, not the server, the limit while the room
//! fills. Postcard writes an enum's variant index first, as one byte for
//! the first 128 variants; the tests below pin the indexes to the codec.

/// `ServerMsg::Online`, `Joined`, `Left` (protocol version 2) and
/// `Presence` (version 3).
const PRESENCE: [u8; 4] = [4, 5, 6, 13];

/// Whether a `ServerMsg` payload is a presence notice (skip it).
pub fn is_presence(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| PRESENCE.contains(b))
}

#[cfg(test)]
mod tests {
    use natter_common::codec::encode_frame;
    use natter_common::{ServerMsg, UserName};

    use super::*;

    fn payload(msg: &ServerMsg) -> Vec<u8> {
        encode_frame(msg).unwrap()[4..].to_vec()
    }

    #[test]
    fn presence_frames_are_known_by_their_first_byte() {
        let user = UserName::parse("someone").unwrap();
        for msg in [
            ServerMsg::Online {
                users: vec![user.clone()],
            },
            ServerMsg::Joined { user: user.clone() },
            ServerMsg::Left { user: user.clone() },
            ServerMsg::Presence {
                came: vec![user],
                went: vec![],
            },
        ] {
            assert!(is_presence(&payload(&msg)), "{}", msg.kind());
        }
        let pong = ServerMsg::Pong { nonce: 5 };
        let caught_up = ServerMsg::CaughtUp {
            latest: None,
            truncated: false,
        };
        assert!(!is_presence(&payload(&pong)));
        assert!(!is_presence(&payload(&caught_up)));
    }
}

//! Every protocol value survives a trip through the frame encoder and the
//! canonical decoder unchanged, and its frame is the only encoding that
//! decodes to it: the guarantee other clients and the server's stored
//! content rely on. Values come from strategies that build each type from
//! its parts, so a new variant or field has to be added here to be covered.

use std::fmt::Debug;

use natter_common::codec::{self, FrameError};
use natter_common::{
    BlobHash, ChatMessage, ClientMsg, ClientMsgId, Content, Conversation, EmojiId, Hello, Limits,
    MediaKind, MediaRef, MessageId, Recipient, Refusal, RequestId, ServerMsg, SessionToken,
    Timestamp, TransferHeader, TransferReply, UserName,
};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Cases per type: enough to reach every variant many times while the
/// whole file stays a few seconds in a debug build.
const CASES: u32 = 1024;

/// Encodes `value` as a frame and checks that it decodes back to itself,
/// that the frame is the plain encoding behind its length, and that a byte
/// more is refused rather than ignored.
fn assert_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let frame = codec::encode_frame(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let payload = &frame[4..];
    prop_assert_eq!(&frame[..4], &(payload.len() as u32).to_le_bytes());
    prop_assert_eq!(codec::to_bytes(value).unwrap(), payload);
    let decoded: T =
        codec::decode_payload(payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, value);
    let mut longer = payload.to_vec();
    longer.push(0);
    prop_assert!(matches!(
        codec::decode_payload::<T>(&longer),
        Err(FrameError::NotCanonical)
    ));
    Ok(())
}

fn user_name() -> impl Strategy<Value = UserName> {
    // Letters and digits of any script, and the three allowed marks.
    "[\\p{L}\\p{N}_.\\-]{1,32}"
        .prop_filter_map("a valid stored name", |s| UserName::stored(&s).ok())
}

fn blob_hash() -> impl Strategy<Value = BlobHash> {
    any::<[u8; 32]>().prop_map(BlobHash)
}

fn message_id() -> impl Strategy<Value = MessageId> {
    any::<u64>().prop_map(MessageId)
}

fn media_ref() -> impl Strategy<Value = MediaRef> {
    (blob_hash(), any::<String>(), any::<u64>()).prop_map(|(hash, name, size)| MediaRef {
        hash,
        name,
        size,
    })
}

fn recipient() -> impl Strategy<Value = Recipient> {
    prop_oneof![
        Just(Recipient::Everyone),
        user_name().prop_map(Recipient::User)
    ]
}

fn conversation() -> impl Strategy<Value = Conversation> {
    prop_oneof![
        Just(Conversation::Group),
        user_name().prop_map(Conversation::With)
    ]
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        any::<String>().prop_map(Content::Text),
        any::<u16>().prop_map(|id| Content::Emoji(EmojiId(id))),
        (media_ref(), any::<u32>(), any::<u32>()).prop_map(|(media, width, height)| {
            Content::Image {
                media,
                width,
                height,
            }
        }),
        media_ref().prop_map(Content::File),
    ]
}

fn chat_message() -> impl Strategy<Value = ChatMessage> {
    (
        message_id(),
        user_name(),
        recipient(),
        any::<i64>(),
        content(),
    )
        .prop_map(|(id, from, to, sent_at, content)| ChatMessage {
            id,
            from,
            to,
            sent_at: Timestamp(sent_at),
            content,
        })
}

fn refusal() -> impl Strategy<Value = Refusal> {
    prop_oneof![
        (any::<u16>(), any::<u16>())
            .prop_map(|(server, client)| Refusal::VersionMismatch { server, client }),
        any::<String>().prop_map(Refusal::UnknownUser),
        Just(Refusal::WrongPassword),
        any::<String>().prop_map(Refusal::NameTaken),
        any::<String>().prop_map(Refusal::InvalidName),
        any::<u16>().prop_map(|min_chars| Refusal::WeakPassword { min_chars }),
        Just(Refusal::PasswordTooLong),
        any::<u32>().prop_map(|retry_after_ms| Refusal::RateLimited { retry_after_ms }),
        Just(Refusal::InvalidSession),
        Just(Refusal::NotAuthenticated),
        Just(Refusal::AlreadyAuthenticated),
        any::<String>().prop_map(Refusal::UnknownRecipient),
        any::<u32>().prop_map(|max_chars| Refusal::TextTooLong { max_chars }),
        Just(Refusal::EmptyText),
        any::<u16>().prop_map(Refusal::UnknownEmoji),
        any::<String>().prop_map(Refusal::InvalidMedia),
        (any::<u64>(), any::<u64>()).prop_map(|(size, max)| Refusal::TooLarge { size, max }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(used, quota, needed)| {
            Refusal::QuotaExceeded {
                used,
                quota,
                needed,
            }
        }),
        Just(Refusal::NoSuchBlob),
        Just(Refusal::Forbidden),
        Just(Refusal::HashMismatch),
        any::<String>().prop_map(Refusal::Malformed),
        any::<String>().prop_map(Refusal::Busy),
        Just(Refusal::Internal),
        Just(Refusal::Unavailable),
    ]
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    let since = || proptest::option::of(message_id());
    prop_oneof![
        (any::<String>(), any::<String>())
            .prop_map(|(name, password)| ClientMsg::Register { name, password }),
        (any::<String>(), any::<String>(), since()).prop_map(|(name, password, since)| {
            ClientMsg::Login {
                name,
                password,
                since,
            }
        }),
        (any::<[u8; 32]>(), since()).prop_map(|(token, since)| ClientMsg::Resume {
            token: SessionToken(token),
            since,
        }),
        (any::<u64>(), recipient(), content()).prop_map(|(id, to, content)| ClientMsg::Send {
            client_id: ClientMsgId(id),
            to,
            content,
        }),
        (any::<u32>(), conversation(), since(), any::<u16>()).prop_map(
            |(request, conversation, before, limit)| ClientMsg::History {
                request: RequestId(request),
                conversation,
                before,
                limit,
            }
        ),
        any::<u64>().prop_map(|nonce| ClientMsg::Ping { nonce }),
        Just(ClientMsg::Logout),
        Just(ClientMsg::LogoutEverywhere),
    ]
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    let limits = (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
        |(max_text_chars, max_upload_bytes, quota_bytes, used_bytes)| Limits {
            max_text_chars,
            max_upload_bytes,
            quota_bytes,
            used_bytes,
        },
    );
    prop_oneof![
        (any::<u16>(), any::<String>())
            .prop_map(|(version, software)| ServerMsg::Welcome { version, software }),
        refusal().prop_map(ServerMsg::Refused),
        user_name().prop_map(|user| ServerMsg::Registered { user }),
        (user_name(), any::<[u8; 32]>(), limits).prop_map(|(user, token, limits)| {
            ServerMsg::LoggedIn {
                user,
                token: SessionToken(token),
                limits,
            }
        }),
        proptest::collection::vec(user_name(), 0..8).prop_map(|users| ServerMsg::Online { users }),
        user_name().prop_map(|user| ServerMsg::Joined { user }),
        user_name().prop_map(|user| ServerMsg::Left { user }),
        (
            proptest::collection::vec(user_name(), 0..4),
            proptest::collection::vec(user_name(), 0..4),
        )
            .prop_map(|(came, went)| ServerMsg::Presence { came, went }),
        chat_message().prop_map(ServerMsg::Message),
        (proptest::option::of(message_id()), any::<bool>())
            .prop_map(|(latest, truncated)| ServerMsg::CaughtUp { latest, truncated }),
        (any::<u64>(), message_id(), any::<i64>()).prop_map(|(client_id, id, sent_at)| {
            ServerMsg::Accepted {
                client_id: ClientMsgId(client_id),
                id,
                sent_at: Timestamp(sent_at),
            }
        }),
        (any::<u64>(), refusal()).prop_map(|(client_id, reason)| ServerMsg::Rejected {
            client_id: ClientMsgId(client_id),
            reason,
        }),
        (
            any::<u32>(),
            conversation(),
            proptest::collection::vec(chat_message(), 0..4),
            any::<bool>()
        )
            .prop_map(
                |(request, conversation, messages, more)| ServerMsg::History {
                    request: RequestId(request),
                    conversation,
                    messages,
                    more,
                }
            ),
        any::<u64>().prop_map(|nonce| ServerMsg::Pong { nonce }),
    ]
}

fn media_kind() -> impl Strategy<Value = MediaKind> {
    prop_oneof![Just(MediaKind::Photo), Just(MediaKind::File)]
}

fn transfer_header() -> impl Strategy<Value = TransferHeader> {
    prop_oneof![
        (media_kind(), blob_hash(), any::<u64>())
            .prop_map(|(kind, hash, size)| TransferHeader::Put { kind, hash, size }),
        (media_kind(), blob_hash(), any::<u64>())
            .prop_map(|(kind, hash, offset)| TransferHeader::Get { kind, hash, offset }),
    ]
}

fn transfer_reply() -> impl Strategy<Value = TransferReply> {
    prop_oneof![
        any::<u64>().prop_map(|offset| TransferReply::SendFrom { offset }),
        Just(TransferReply::Stored),
        any::<u64>().prop_map(|size| TransferReply::Sending { size }),
        refusal().prop_map(TransferReply::Refused),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn hellos_round_trip(version in any::<u16>(), software in any::<String>()) {
        let hello = Hello { version, software };
        assert_round_trip(&hello)?;
        let frame = codec::encode_frame(&hello).unwrap();
        prop_assert_eq!(codec::hello_version(&frame[4..]).unwrap(), version);
    }

    #[test]
    fn client_messages_round_trip(msg in client_msg()) {
        assert_round_trip(&msg)?;
    }

    #[test]
    fn server_messages_round_trip(msg in server_msg()) {
        assert_round_trip(&msg)?;
    }

    #[test]
    fn transfer_headers_round_trip(header in transfer_header()) {
        assert_round_trip(&header)?;
    }

    #[test]
    fn transfer_replies_round_trip(reply in transfer_reply()) {
        assert_round_trip(&reply)?;
    }
}

//! End-to-end tests of the ids a share hands out at once: the upload's
//! events carry its transfer id, and the server's answer to the picture or
//! file message carries the message id reserved when the share started,
//! so a refusal after a successful upload reaches the application.

use natter_client::ClientEvent;
use natter_common::{ClientMsgId, Recipient, Refusal, UserName};
use natter_tests::*;

const KIB: u64 = 1 << 10;

/// A small PNG under `dir`.
fn picture(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("dot.png");
    image::RgbaImage::from_pixel(4, 3, image::Rgba([10, 200, 30, 255]))
        .save(&path)
        .unwrap();
    path
}

/// Whether `event` answers the message sent as `message`.
fn answers(event: &ClientEvent, message: ClientMsgId) -> bool {
    matches!(
        event,
        ClientEvent::Accepted { client_id, .. }
            | ClientEvent::Rejected { client_id, .. }
            | ClientEvent::Throttled { client_id, .. }
            if *client_id == message
    )
}

#[tokio::test]
async fn a_picture_refused_after_its_upload_is_rejected_under_the_shares_message_id() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, mut a) = member(&server, dir.path(), "alice").await;

    // The upload goes through; the server then refuses the message, as
    // nobody of that name has an account.
    let nobody = Recipient::User(UserName::parse("nobody").unwrap());
    let share = alice.share(nobody, picture(dir.path()), false);

    let (mut uploaded, mut rejected) = (None, None);
    expect(
        &mut a,
        "the upload's end and the message's rejection",
        |e| {
            match e {
                ClientEvent::TransferDone { id, outcome } if *id == share.transfer => {
                    uploaded = Some(outcome.clone());
                }
                ClientEvent::Rejected { client_id, reason } if *client_id == share.message => {
                    rejected = Some(reason.clone());
                }
                e if answers(e, share.message) => panic!("the message was not refused: {e:?}"),
                _ => {}
            }
            (uploaded.is_some() && rejected.is_some()).then_some(())
        },
    )
    .await;
    let cached = uploaded.unwrap().expect("the upload itself succeeds");
    assert!(cached.exists(), "the sender keeps her picture in the cache");
    assert!(
        matches!(&rejected, Some(Refusal::UnknownRecipient(name)) if name == "nobody"),
        "{rejected:?}"
    );
}

#[tokio::test]
async fn a_share_whose_upload_fails_posts_no_message() {
    let server = TestServer::start_with(|c| c.max_upload_bytes = KIB).await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, mut a) = member(&server, dir.path(), "alice").await;
    let big = dir.path().join("big.bin");
    random_file(&big, 2 * KIB, "too big");

    let share = alice.share(Recipient::Everyone, big, true);
    let outcome = expect(&mut a, "the upload's end", |e| match e {
        ClientEvent::TransferDone { id, outcome } if *id == share.transfer => Some(outcome.clone()),
        e if answers(e, share.message) => panic!("a message was posted: {e:?}"),
        _ => None,
    })
    .await;
    assert!(
        matches!(
            outcome,
            Err(natter_client::ClientError::Refused(
                Refusal::TooLarge { .. }
            ))
        ),
        "{outcome:?}"
    );

    // Events come in order: by the answer to a later message, any answer
    // to the share's message would have arrived.
    let marker = alice
        .send(
            Recipient::Everyone,
            natter_common::Content::Text("after".into()),
        )
        .unwrap();
    expect(&mut a, "the later message's answer", |e| {
        assert!(!answers(e, share.message), "a message was posted: {e:?}");
        answers(e, marker).then_some(())
    })
    .await;
}

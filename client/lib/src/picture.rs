//! Whether a local file is a picture the other side can show: its format
//! and pixel size, read from the file's header, so a share is posted as a
//! picture or as a file.

use std::path::Path;

use natter_common::rules::PictureKind;

/// Pictures larger than this are sent as files: decoding them to check
/// would cost too much memory.
pub const MAX_PICTURE_BYTES: u64 = 64 << 20;

/// If `path` is a PNG, JPEG, GIF or WebP picture, its pixel size, read
/// from the file's header (the receiving GUI decodes it, within limits).
/// Reads the disk: runs on the blocking pool.
pub async fn picture_size(path: &Path) -> Option<(u32, u32)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        if std::fs::metadata(&path).ok()?.len() > MAX_PICTURE_BYTES {
            return None;
        }
        let found = imagesize::image_type(&read_head(&path)?).ok()?;
        if !PictureKind::ALL.map(image_type).contains(&found) {
            return None;
        }
        let size = imagesize::size(&path).ok()?;
        let (width, height) = (
            u32::try_from(size.width).ok()?,
            u32::try_from(size.height).ok()?,
        );
        (width > 0 && height > 0).then_some((width, height))
    })
    .await
    .ok()
    .flatten()
}

/// How `imagesize` names each kind of picture: a kind added to the shared
/// rule does not compile until it is mapped here.
fn image_type(kind: PictureKind) -> imagesize::ImageType {
    use imagesize::ImageType;
    match kind {
        PictureKind::Png => ImageType::Png,
        PictureKind::Jpeg => ImageType::Jpeg,
        PictureKind::Gif => ImageType::Gif,
        PictureKind::Webp => ImageType::Webp,
    }
}

/// The first bytes of a file, enough to tell its picture format.
fn read_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .ok()?
        .take(64)
        .read_to_end(&mut head)
        .ok()?;
    Some(head)
}

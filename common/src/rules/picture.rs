//! Which files count as pictures: the formats a client may send as
//! `Content::Image` and every receiving client can show inline
//! (docs/protocol.md §7.7). Anything else travels as `Content::File`.

/// A picture format every Natter client decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureKind {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl PictureKind {
    /// Every kind, for code that maps another library's formats onto these.
    pub const ALL: [PictureKind; 4] = [Self::Png, Self::Jpeg, Self::Gif, Self::Webp];

    /// The file name extensions (lower case, without the dot) this kind
    /// goes by.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Png => &["png"],
            Self::Jpeg => &["jpg", "jpeg"],
            Self::Gif => &["gif"],
            Self::Webp => &["webp"],
        }
    }

    /// The kind a file name extension (without the dot, any case) names.
    pub fn from_extension(ext: &str) -> Option<Self> {
        let ext = ext.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|kind| kind.extensions().contains(&ext.as_str()))
    }
}

/// The extensions of every [`PictureKind`], lower case and without the dot:
/// the filter of a "choose a picture" dialog.
pub const PICTURE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "gif", "webp"];

/// Whether a file name extension (without the dot, any case) names a
/// picture: how a dropped or typed path is offered as a picture before its
/// bytes are read.
pub fn is_picture_extension(ext: &str) -> bool {
    PictureKind::from_extension(ext).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_list_is_every_kinds_extensions() {
        let from_kinds: Vec<&str> = PictureKind::ALL
            .into_iter()
            .flat_map(PictureKind::extensions)
            .copied()
            .collect();
        assert_eq!(from_kinds, PICTURE_EXTENSIONS);
    }

    #[test]
    fn extensions_are_recognised_in_any_case() {
        assert_eq!(PictureKind::from_extension("JPG"), Some(PictureKind::Jpeg));
        assert_eq!(PictureKind::from_extension("jpeg"), Some(PictureKind::Jpeg));
        assert!(is_picture_extension("WebP"));
        assert!(is_picture_extension("png"));
        assert!(!is_picture_extension("svg"));
        assert!(!is_picture_extension(""));
        assert!(!is_picture_extension(".png"));
    }
}

//! Which room names are acceptable.
//!
//! Names come from the URL path, percent-decoded by the router. Any UTF-8 up to 512 bytes is a
//! name, so people can name documents as they like (slashes included: y-websocket appends the room
//! name to the URL unescaped), but control characters are refused: they make names ambiguous in
//! logs, listings and file exports.

/// The longest name accepted, in bytes.
pub const MAX_ROOM_NAME_BYTES: usize = 512;

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomNameError {
    /// The name is empty.
    #[error("room name is empty")]
    Empty,
    /// The name is longer than [`MAX_ROOM_NAME_BYTES`].
    #[error("room name is {0} bytes long; the limit is {MAX_ROOM_NAME_BYTES}")]
    TooLong(usize),
    /// The name holds a control character.
    #[error("room name contains a control character (U+{0:04X})")]
    ControlCharacter(u32),
}

/// Checks a percent-decoded room name.
pub fn validate_room_name(name: &str) -> Result<(), RoomNameError> {
    if name.is_empty() {
        return Err(RoomNameError::Empty);
    }
    if name.len() > MAX_ROOM_NAME_BYTES {
        return Err(RoomNameError::TooLong(name.len()));
    }
    if let Some(control) = name.chars().find(|character| character.is_control()) {
        return Err(RoomNameError::ControlCharacter(control as u32));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_unicode_slashes_and_spaces() {
        for name in [
            "notes",
            "team/roadmap 2027",
            "日本語のメモ",
            "a",
            "émoji 🎉",
        ] {
            assert_eq!(validate_room_name(name), Ok(()), "{name}");
        }
        assert_eq!(validate_room_name(&"x".repeat(512)), Ok(()));
    }

    #[test]
    fn refuses_empty_long_and_control_names() {
        assert_eq!(validate_room_name(""), Err(RoomNameError::Empty));
        assert_eq!(
            validate_room_name(&"x".repeat(513)),
            Err(RoomNameError::TooLong(513))
        );
        assert_eq!(
            validate_room_name("bad\nname"),
            Err(RoomNameError::ControlCharacter(0x0A))
        );
        assert_eq!(
            validate_room_name("bad\u{7f}"),
            Err(RoomNameError::ControlCharacter(0x7F))
        );
    }
}

//! The wire protocol between the web UI server and its pages.
//!
//! Server to page: text messages are JSON [`ServerMessage`]s; binary messages are video
//! frames laid out by [`encode_frame_message`]. Page to server: text messages are JSON
//! [`UiInput`]s exactly as `switchboard_core` serializes them (`{"input": "button_pressed",
//! "id": "mute_audio"}`). See docs/architecture-web.md for the whole picture.

use serde::{Deserialize, Serialize};
use switchboard_core::view::{UiInput, View};

/// The protocol version carried by [`ServerMessage::Hello`]. The page refuses to draw a
/// server that speaks another one, so a stale cached page cannot misread messages.
pub const PROTOCOL_VERSION: u32 = 1;

/// The first byte of a binary frame message: a JPEG-compressed video frame.
pub const FRAME_KIND_JPEG: u8 = 1;

/// The title and status line drawn above the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CallInfo {
    /// The call's title, e.g. the session id or a meeting name.
    pub title: String,
    /// A short status, e.g. "connected · 3 participants".
    pub status: String,
}

/// A JSON text message from the server to a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Sent first on every connection.
    Hello {
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
    },
    /// The view to draw, replacing the previous one.
    View {
        /// The laid-out call view.
        view: View,
    },
    /// The title and status line.
    CallInfo {
        /// Title and status.
        info: CallInfo,
    },
    /// The participant has no video any more: forget its last frame.
    FrameCleared {
        /// Whose frame.
        uid: String,
    },
}

/// Lays out a binary frame message: `[kind u8][uid length u16 BE][uid UTF-8][image bytes]`.
///
/// The uid rides in the same message as the image so that a page can never pair a frame
/// with the wrong tile, whatever order messages are delivered in.
pub fn encode_frame_message(uid: &str, jpeg: &[u8]) -> Vec<u8> {
    // Uids are short; one longer than u16::MAX bytes is cut at a char boundary rather
    // than corrupting the header.
    let mut end = uid.len().min(usize::from(u16::MAX));
    while !uid.is_char_boundary(end) {
        end -= 1;
    }
    let uid = &uid[..end];
    let len = u16::try_from(uid.len()).expect("uid length was clamped to u16::MAX");
    let mut out = Vec::with_capacity(3 + uid.len() + jpeg.len());
    out.push(FRAME_KIND_JPEG);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(uid.as_bytes());
    out.extend_from_slice(jpeg);
    out
}

/// Parses a text message from a page into a [`UiInput`].
///
/// Inputs this build does not know decode to [`UiInput::Unknown`] (the core type's
/// `#[serde(other)]`), which the caller drops with a log line.
pub fn decode_input(text: &str) -> Result<UiInput, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_message_carries_uid_then_image() {
        let msg = encode_frame_message("bob", &[0xff, 0xd8]);
        assert_eq!(msg, vec![FRAME_KIND_JPEG, 0, 3, b'b', b'o', b'b', 0xff, 0xd8]);
    }

    #[test]
    fn inputs_decode_in_core_shape() {
        let input = decode_input(r#"{"input":"tile_dragged","uid":"a","x":1.5,"y":2}"#).expect("valid input");
        assert_eq!(input, UiInput::TileDragged { uid: "a".into(), x: 1.5, y: 2.0 });
        let unknown = decode_input(r#"{"input":"telepathy"}"#).expect("unknown input");
        assert_eq!(unknown, UiInput::Unknown);
    }

    #[test]
    fn server_messages_are_tagged_by_type() {
        let text = serde_json::to_string(&ServerMessage::Hello { protocol: 1 }).expect("json");
        assert_eq!(text, r#"{"type":"hello","protocol":1}"#);
    }
}

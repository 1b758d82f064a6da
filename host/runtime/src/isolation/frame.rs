//! The frames between the host and a plugin's child process: length-prefixed, so either
//! side knows where one message ends without parsing it.
//!
//! A frame is `len: u32 LE` then `len` bytes. A request's body starts with an [`Op`] byte;
//! a reply's body starts with the ABI status (`i32 LE`) followed by the payload (the
//! plugin's reply bytes, or its error message). The payloads are the ABI's own bytes: a
//! `handle` request carries the same JSON [`switchboard_core::wire::HostEnvelope`] an
//! in-process plugin gets, and the reply the same [`switchboard_core::wire::PluginReply`].

use std::io::{self, Read, Write};

use switchboard_core::sdk::MediaFrame;

/// The largest frame either side accepts: far above any real message (a 1 MB garbage
/// message is a conformance case), low enough that a corrupt length cannot make the reader
/// allocate gigabytes.
pub const MAX_FRAME: usize = 64 << 20;

/// What a request asks the child to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// `create` with the payload as settings JSON.
    Create = 1,
    /// `handle` with the payload as the message.
    Handle = 2,
    /// `media` with the payload as an encoded [`MediaFrame`] (see [`encode_media`]).
    Media = 3,
    /// `destroy`; the child exits after replying.
    Destroy = 4,
}

impl Op {
    /// The op of a request's first byte.
    pub fn from_byte(byte: u8) -> Option<Op> {
        match byte {
            1 => Some(Op::Create),
            2 => Some(Op::Handle),
            3 => Some(Op::Media),
            4 => Some(Op::Destroy),
            _ => None,
        }
    }
}

/// Writes one request frame (`op` + `payload`) in a single `write_all`, so a frame is never
/// interleaved or half-sent because of a short write on our side.
pub fn write_request(out: &mut impl Write, op: Op, payload: &[u8], scratch: &mut Vec<u8>) -> io::Result<()> {
    scratch.clear();
    let len = u32::try_from(1 + payload.len()).map_err(|_| too_big(payload.len()))?;
    scratch.extend_from_slice(&len.to_le_bytes());
    scratch.push(op as u8);
    scratch.extend_from_slice(payload);
    out.write_all(scratch)?;
    out.flush()
}

/// Writes one reply frame (`status` + `payload`).
pub fn write_reply(
    out: &mut impl Write,
    status: i32,
    payload: &[u8],
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    scratch.clear();
    let len = u32::try_from(4 + payload.len()).map_err(|_| too_big(payload.len()))?;
    scratch.extend_from_slice(&len.to_le_bytes());
    scratch.extend_from_slice(&status.to_le_bytes());
    scratch.extend_from_slice(payload);
    out.write_all(scratch)?;
    out.flush()
}

/// Reads one frame body into `body` (blocking). `Ok(false)` is a clean end of stream
/// before a frame started.
pub fn read_frame(input: &mut impl Read, body: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(too_big(len));
    }
    body.clear();
    body.resize(len, 0);
    input.read_exact(body)?;
    Ok(true)
}

fn too_big(len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a frame of {len} bytes is over the {MAX_FRAME} byte limit"),
    )
}

/// Encodes a media frame: kind, codec, keyframe, timestamp, then participant, track and data,
/// each a `u32 LE` length and the bytes.
pub fn encode_media(frame: &MediaFrame<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&frame.kind.to_le_bytes());
    out.extend_from_slice(&frame.codec.to_le_bytes());
    out.push(u8::from(frame.keyframe));
    out.extend_from_slice(&frame.timestamp_us.to_le_bytes());
    for part in [frame.participant.as_bytes(), frame.track.as_bytes(), frame.data] {
        // Participant ids, track names and encoded frames are far below 4 GiB.
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    }
}

/// Decodes what [`encode_media`] wrote, borrowing from `bytes`.
pub fn decode_media(bytes: &[u8]) -> Option<MediaFrame<'_>> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let part = bytes.get(at..at.checked_add(n)?)?;
        at += n;
        Some(part)
    };
    let kind = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let codec = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let keyframe = take(1)?[0] != 0;
    let timestamp_us = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let mut parts = [&[][..]; 3];
    for part in &mut parts {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        *part = take(len)?;
    }
    let [participant, track, data] = parts;
    Some(MediaFrame {
        kind,
        codec,
        keyframe,
        timestamp_us,
        participant: std::str::from_utf8(participant).ok()?,
        track: std::str::from_utf8(track).ok()?,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut wire = Vec::new();
        let mut scratch = Vec::new();
        write_request(&mut wire, Op::Handle, b"{\"v\":1}", &mut scratch).expect("write");
        write_reply(&mut wire, 2, b"boom", &mut scratch).expect("write");
        let mut input = &wire[..];
        let mut body = Vec::new();
        assert!(read_frame(&mut input, &mut body).expect("read"));
        assert_eq!(Op::from_byte(body[0]), Some(Op::Handle));
        assert_eq!(&body[1..], b"{\"v\":1}");
        assert!(read_frame(&mut input, &mut body).expect("read"));
        assert_eq!(i32::from_le_bytes(body[..4].try_into().expect("4 bytes")), 2);
        assert_eq!(&body[4..], b"boom");
        assert!(!read_frame(&mut input, &mut body).expect("clean end"));
    }

    #[test]
    fn a_huge_length_is_refused_without_allocating() {
        let wire = u32::MAX.to_le_bytes();
        let err = read_frame(&mut &wire[..], &mut Vec::new()).expect_err("too big");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn media_round_trips() {
        let frame = MediaFrame {
            kind: 1,
            codec: 2,
            keyframe: true,
            timestamp_us: 42,
            participant: "bob",
            track: "video",
            data: &[1, 2, 3],
        };
        let mut bytes = Vec::new();
        encode_media(&frame, &mut bytes);
        let back = decode_media(&bytes).expect("decodes");
        assert_eq!(
            (
                back.kind,
                back.codec,
                back.keyframe,
                back.timestamp_us,
                back.participant,
                back.track,
                back.data
            ),
            (1, 2, true, 42, "bob", "video", &[1u8, 2, 3][..])
        );
        assert!(decode_media(&bytes[..bytes.len() - 1]).is_none(), "truncated");
    }
}

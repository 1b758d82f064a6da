//! The video frame pipeline of the web UI: latest raw frame per participant in, JPEG out.
//!
//! Decoders hand frames in at their own pace with [`PendingFrames::put`], which only
//! replaces the participant's slot: nothing queues, so a slow encoder or a slow page
//! sees the newest frame and never a backlog. One encoder task wakes when a slot is
//! filled, takes every filled slot, compresses them on the blocking pool, publishes the
//! result in a `watch` channel, and then waits out the rest of its frame interval; that
//! wait is what bounds the rate. Pages pull from the `watch` channel, so a page that falls
//! behind also skips straight to the newest frame.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use image::ExtendedColorType;
use image::codecs::jpeg::JpegEncoder;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::protocol::encode_frame_message;

/// The pixels of one decoded video frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameData {
    /// 8-bit RGBA, row-major, `width * height * 4` bytes, no padding.
    Rgba(Vec<u8>),
    /// An already compressed JPEG image, sent to pages as it is.
    Jpeg(Vec<u8>),
}

/// One decoded video frame of a participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub data: FrameData,
}

impl VideoFrame {
    /// A frame of RGBA pixels.
    pub fn rgba(width: u32, height: u32, pixels: Vec<u8>) -> Self {
        Self { width, height, data: FrameData::Rgba(pixels) }
    }

    /// A frame that is already a JPEG image.
    pub fn jpeg(width: u32, height: u32, jpeg: Vec<u8>) -> Self {
        Self { width, height, data: FrameData::Jpeg(jpeg) }
    }
}

/// A compressed frame as pages receive it.
#[derive(Debug, Clone)]
pub(crate) struct EncodedFrame {
    /// Increases with every published frame, across participants; a page connection
    /// sends a participant's frame again only when this changed.
    pub(crate) seq: u64,
    /// The whole binary WebSocket message (header and JPEG).
    pub(crate) message: Bytes,
}

/// The newest compressed frame of every participant that has one.
pub(crate) type FrameSet = Arc<HashMap<String, EncodedFrame>>;

/// The newest raw frame of each participant, waiting for the encoder.
#[derive(Debug, Default)]
pub(crate) struct PendingFrames {
    slots: Mutex<HashMap<String, VideoFrame>>,
    filled: Notify,
}

impl PendingFrames {
    /// Replaces the participant's waiting frame, dropping the older one if the encoder
    /// has not taken it yet.
    pub(crate) fn put(&self, uid: String, frame: VideoFrame) {
        self.lock().insert(uid, frame);
        // notify_one keeps a permit when the encoder is busy, so this wake-up is not lost.
        self.filled.notify_one();
    }

    /// Drops the participant's waiting frame, if any.
    pub(crate) fn remove(&self, uid: &str) {
        self.lock().remove(uid);
    }

    fn take_all(&self) -> Vec<(String, VideoFrame)> {
        self.lock().drain().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VideoFrame>> {
        // The map holds plain data and no code that can panic runs under the lock, so a
        // poisoned lock still holds a consistent map.
        self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Settings of the encoder task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncoderSettings {
    /// The shortest time between two published batches.
    pub(crate) min_interval: Duration,
    /// JPEG quality, 1 to 100.
    pub(crate) quality: u8,
}

/// Runs until `shutdown` turns true or its sender is dropped.
pub(crate) async fn run_encoder(
    pending: Arc<PendingFrames>,
    out: watch::Sender<FrameSet>,
    settings: EncoderSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            () = pending.filled.notified() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
                continue;
            }
        }
        let started = Instant::now();
        let batch = pending.take_all();
        if batch.is_empty() {
            continue;
        }
        let quality = settings.quality;
        let encoded = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .filter_map(|(uid, frame)| match compress(&frame, quality) {
                    Ok(jpeg) => {
                        let message = Bytes::from(encode_frame_message(&uid, &jpeg));
                        Some((uid, message))
                    }
                    Err(error) => {
                        tracing::warn!(%uid, %error, "dropping a video frame the web UI cannot compress");
                        None
                    }
                })
                .collect::<Vec<_>>()
        })
        .await;
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(error) => {
                tracing::error!(%error, "the web UI frame encoder failed; dropping this batch");
                continue;
            }
        };
        out.send_modify(|set| {
            let set = Arc::make_mut(set);
            for (uid, message) in encoded {
                seq += 1;
                set.insert(uid, EncodedFrame { seq, message });
            }
        });
        tokio::select! {
            () = tokio::time::sleep_until(started + settings.min_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Turns a frame into JPEG bytes.
fn compress(frame: &VideoFrame, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    match &frame.data {
        FrameData::Jpeg(jpeg) => Ok(jpeg.clone()),
        FrameData::Rgba(rgba) => {
            // JPEG has no alpha; dropping it here keeps the encoder on its plainest path.
            let rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]).collect();
            let mut out = Vec::with_capacity(rgb.len() / 8);
            JpegEncoder::new_with_quality(&mut out, quality).encode(
                &rgb,
                frame.width,
                frame.height,
                ExtendedColorType::Rgb8,
            )?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_compresses_to_a_jpeg_of_the_same_size() {
        let frame = VideoFrame::rgba(16, 8, [200u8, 10, 10, 255].repeat(16 * 8));
        let jpeg = compress(&frame, 80).expect("compress");
        let decoded = image::load_from_memory(&jpeg).expect("decode").to_rgb8();
        assert_eq!(decoded.dimensions(), (16, 8));
        let px = decoded.get_pixel(8, 4);
        assert!(px[0] > 180 && px[1] < 40 && px[2] < 40, "pixel {px:?}");
    }

    #[test]
    fn a_newer_frame_replaces_the_waiting_one() {
        let pending = PendingFrames::default();
        pending.put("a".into(), VideoFrame::jpeg(1, 1, vec![1]));
        pending.put("a".into(), VideoFrame::jpeg(1, 1, vec![2]));
        let taken = pending.take_all();
        assert_eq!(taken, vec![("a".to_string(), VideoFrame::jpeg(1, 1, vec![2]))]);
    }
}

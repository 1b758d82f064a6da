//! Playout probes: what a device sink hands its device, stamped with the instant each
//! sample is due at the device's output (cpal's playback timestamp), for measuring
//! latency at the sink itself rather than through a monitor capture.
//!
//! A probe is attached to a device name before the sink opens it (for instance before a
//! session starts); the first device sink that opens that device afterwards feeds it from
//! its output callback, without locking or allocating there. Nothing reads audio back from
//! the device: the instants are the backend's own report of when the buffer plays.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::AudioFormat;

/// Samples per [`PlayedChunk`].
pub const PROBE_CHUNK: usize = 256;
/// Chunks a probe holds before the newest are dropped (about 2 s).
const PROBE_CHUNKS: usize = 2 * AudioFormat::SAMPLE_RATE as usize / PROBE_CHUNK;

/// Probes waiting for their device to be opened.
static WAITING: Mutex<Vec<(String, rtrb::Producer<PlayedChunk>)>> = Mutex::new(Vec::new());

/// Up to [`PROBE_CHUNK`] consecutive mono samples as they went to the device.
#[derive(Debug, Clone)]
pub struct PlayedChunk {
    /// When the first sample is due at the device's output.
    pub due: Instant,
    len: usize,
    samples: [i16; PROBE_CHUNK],
}

impl PlayedChunk {
    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.samples[..self.len]
    }

    /// When sample `index` of this chunk is due at the device's output.
    pub fn due_at(&self, index: usize) -> Instant {
        self.due + Duration::from_secs_f64(index as f64 / f64::from(AudioFormat::SAMPLE_RATE))
    }
}

/// The reading end of a probe.
#[derive(Debug)]
pub struct PlayoutProbe {
    consumer: rtrb::Consumer<PlayedChunk>,
}

impl PlayoutProbe {
    /// The next chunk played, if any is waiting.
    pub fn try_next(&mut self) -> Option<PlayedChunk> {
        self.consumer.pop().ok()
    }
}

/// Attaches a probe to the output device `name` (as `device:NAME` names it); the next
/// device sink opened on it feeds the probe. A second probe for the same name waits for
/// the sink after that.
pub fn probe_playout(name: &str) -> PlayoutProbe {
    let (producer, consumer) = rtrb::RingBuffer::new(PROBE_CHUNKS);
    WAITING.lock().unwrap_or_else(|p| p.into_inner()).push((name.to_owned(), producer));
    PlayoutProbe { consumer }
}

/// The writing end, owned by a device sink's callback.
pub(crate) struct Tap {
    producer: rtrb::Producer<PlayedChunk>,
}

/// The probe waiting for device `name`, if any.
pub(crate) fn take(name: &str) -> Option<Tap> {
    let mut waiting = WAITING.lock().unwrap_or_else(|p| p.into_inner());
    // Probes dropped before their device opened are forgotten here.
    waiting.retain(|(_, producer)| !producer.is_abandoned());
    let index = waiting.iter().position(|(n, _)| n == name)?;
    Some(Tap { producer: waiting.remove(index).1 })
}

impl Tap {
    /// Records `samples`, the first due at `due`. A full probe drops them (the reader fell
    /// behind); the audio thread never waits.
    pub(crate) fn write(&mut self, due: Instant, samples: &[i16]) {
        for (i, part) in samples.chunks(PROBE_CHUNK).enumerate() {
            let mut chunk = PlayedChunk { due, len: part.len(), samples: [0; PROBE_CHUNK] };
            chunk.samples[..part.len()].copy_from_slice(part);
            chunk.due = chunk.due_at(i * PROBE_CHUNK);
            let _ = self.producer.push(chunk);
        }
    }
}

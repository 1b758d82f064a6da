//! Audio sinks: where the mixer's output goes. A cpal output device, a WAV file, or
//! nowhere (`null`), switchable mid-call.
//!
//! Every sink pulls from the [`Mixer`] at its own pace: a device sink at the pace its
//! callback consumes samples, a WAV or null sink once per 20 ms of wall clock. The mixer
//! outlives sink changes, so moving the output keeps every jitter buffer as it was.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SizedSample};
use switchboard_core::config::AudioOutput;

use super::device::{self, Direction, device_error, device_name};
use super::{AudioFormat, MediaError, Mixer};

/// Samples the device ring can hold (200 ms); the feeder keeps it far emptier than this.
const RING_SAMPLES: usize = AudioFormat::SAMPLE_RATE as usize / 5;
/// How often a WAV sink rewrites its header, so a file cut short stays valid.
const WAV_FLUSH_FRAMES: u64 = 50;

/// Counters of a sink, kept across output moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// 20 ms frames pulled from the mixer.
    pub frames: u64,
    /// Device samples played as silence because the ring was empty.
    pub underrun_samples: u64,
    /// Buffer under/overruns the device reported (the audio thread was late; a glitch,
    /// not a failure).
    pub xruns: u64,
    /// Device sinks: how long the last buffer written waits in the device before it plays,
    /// as the backend reports it (ALSA: the PCM delay).
    pub device_delay: Duration,
    /// Device sinks: audio queued in the ring ahead of the device at the last callback.
    pub ring_delay: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    frames: AtomicU64,
    underrun_samples: AtomicU64,
    xruns: AtomicU64,
    device_delay_us: AtomicU64,
    ring_samples: AtomicUsize,
    /// Frames the device asked for in its last callback, so the feeder keeps enough queued.
    callback_frames: AtomicUsize,
    error: Mutex<Option<MediaError>>,
}

/// A running sink. Dropping it stops playback and finalizes a WAV file.
#[derive(Debug)]
pub struct AudioSink {
    mixer: Mixer,
    output: AudioOutput,
    counters: Arc<Counters>,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    stop: Arc<AtomicBool>,
    worker: JoinHandle<Result<(), MediaError>>,
    // Device sinks only; dropped after the worker so the callback never outlives its feeder
    // by more than one buffer of silence.
    stream: Option<device::OpenStream>,
}

/// Starts the sink named by the config, mixing from `mixer`.
pub fn start_sink(output: &AudioOutput, mixer: Mixer) -> Result<AudioSink, MediaError> {
    let counters = Arc::new(Counters::default());
    let prepared = prepare(output, &counters)?;
    let running = launch(prepared, output, mixer.clone(), Arc::clone(&counters))?;
    Ok(AudioSink { mixer, output: output.clone(), counters, running: Some(running) })
}

impl AudioSink {
    /// Where the audio goes now.
    pub fn output(&self) -> &AudioOutput {
        &self.output
    }

    /// Moves playback to another output, mid-call (audio routing). The new output is opened
    /// before the old one is closed: if it cannot be opened, the error names it and playback
    /// stays where it was.
    /// Moving to the output already in use does nothing (reopening a WAV path would
    /// truncate the file being written).
    pub fn set_output(&mut self, output: &AudioOutput) -> Result<(), MediaError> {
        if *output == self.output && self.running.is_some() {
            return Ok(());
        }
        let prepared = prepare(output, &self.counters)?;
        if let Err(e) = self.halt() {
            // The move itself succeeds; the old output's trouble (say, finalizing its WAV
            // file) is no reason to keep the call on it.
            tracing::warn!("closing audio output {}: {e}", self.output);
        }
        let running = launch(prepared, output, self.mixer.clone(), Arc::clone(&self.counters))?;
        self.running = Some(running);
        self.output = output.clone();
        Ok(())
    }

    /// Counters since the sink started.
    pub fn stats(&self) -> SinkStats {
        SinkStats {
            frames: self.counters.frames.load(Ordering::Relaxed),
            underrun_samples: self.counters.underrun_samples.load(Ordering::Relaxed),
            xruns: self.counters.xruns.load(Ordering::Relaxed),
            device_delay: Duration::from_micros(self.counters.device_delay_us.load(Ordering::Relaxed)),
            ring_delay: Duration::from_secs_f64(
                self.counters.ring_samples.load(Ordering::Relaxed) as f64
                    / f64::from(AudioFormat::SAMPLE_RATE),
            ),
        }
    }

    /// A failure reported by the device while playing (e.g. it vanished), if any.
    pub fn take_error(&self) -> Option<MediaError> {
        self.counters.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Stops playback; for a WAV sink, finalizes the file and reports any write error.
    pub fn stop(mut self) -> Result<(), MediaError> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), MediaError> {
        let Some(running) = self.running.take() else { return Ok(()) };
        running.stop.store(true, Ordering::Release);
        running.worker.thread().unpark();
        let result = running.worker.join().unwrap_or_else(|_| {
            Err(MediaError::Worker { name: self.output.to_string(), message: "panicked".to_owned() })
        });
        drop(running.stream);
        result
    }
}

impl Drop for AudioSink {
    fn drop(&mut self) {
        if let Err(e) = self.halt() {
            tracing::warn!("closing audio sink {}: {e}", self.output);
        }
    }
}

/// An output opened but not yet fed: opening can fail, feeding cannot, which lets
/// `set_output` keep the old output when the new one is unusable.
enum Prepared {
    Null,
    Wav { path: PathBuf, writer: hound::WavWriter<BufWriter<File>> },
    Device { stream: cpal::Stream, producer: rtrb::Producer<i16>, feeder: Arc<OnceLock<thread::Thread>> },
}

fn prepare(output: &AudioOutput, counters: &Arc<Counters>) -> Result<Prepared, MediaError> {
    match output {
        AudioOutput::Null => Ok(Prepared::Null),
        AudioOutput::Wav(path) => Ok(Prepared::Wav { path: path.clone(), writer: create_wav(path)? }),
        AudioOutput::Default => prepare_device(device::default_device(Direction::Output)?, counters),
        AudioOutput::Device(name) => prepare_device(device::find_device(Direction::Output, name)?, counters),
    }
}

fn create_wav(path: &Path) -> Result<hound::WavWriter<BufWriter<File>>, MediaError> {
    let spec = hound::WavSpec {
        channels: AudioFormat::CHANNELS,
        sample_rate: AudioFormat::SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(path, spec).map_err(|source| MediaError::Wav { path: path.to_owned(), source })
}

fn prepare_device(device: cpal::Device, counters: &Arc<Counters>) -> Result<Prepared, MediaError> {
    let name = device_name(&device);
    let (config, format) = device::stream_config(&device, Direction::Output, &name)?;
    let (producer, consumer) = rtrb::RingBuffer::<i16>::new(RING_SAMPLES);
    let channels = usize::from(config.channels);
    let err_counters = Arc::clone(counters);
    let err_name = name.clone();
    let on_error = move |e: cpal::Error| {
        if e.kind() == cpal::ErrorKind::Xrun {
            err_counters.xruns.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut slot = err_counters.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(device_error(Direction::Output, &err_name, &e));
    };
    // The feeder thread does not exist yet; it registers itself here when it starts.
    let feeder = Arc::new(OnceLock::new());
    let state = Playback { channels, consumer, counters: Arc::clone(counters), feeder: Arc::clone(&feeder) };
    let build = |config| match format {
        cpal::SampleFormat::F32 => build_output::<f32>(&device, config, state, on_error),
        cpal::SampleFormat::I16 => build_output::<i16>(&device, config, state, on_error),
        _ => build_output::<i32>(&device, config, state, on_error),
    };
    let stream = build(config).map_err(|e| device_error(Direction::Output, &name, &e))?;
    stream.play().map_err(|e| device_error(Direction::Output, &name, &e))?;
    Ok(Prepared::Device { stream, producer, feeder })
}

/// What the output callback owns.
struct Playback {
    channels: usize,
    consumer: rtrb::Consumer<i16>,
    counters: Arc<Counters>,
    feeder: Arc<OnceLock<thread::Thread>>,
}

fn build_output<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    state: Playback,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<i16>,
{
    let Playback { channels, mut consumer, counters, feeder } = state;
    // Underruns count only once audio has flowed: the silence before the feeder's first
    // frame is start-up, not a glitch.
    let mut started = false;
    // The real-time callback: copy mono samples from the ring to every channel. No locks,
    // no allocation; an empty ring plays silence and is counted.
    let on_data = move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
        let frames = data.len() / channels;
        counters.callback_frames.store(frames, Ordering::Relaxed);
        let ts = info.timestamp();
        let delay = ts.playback.duration_since(ts.callback).as_micros() as u64;
        counters.device_delay_us.store(delay, Ordering::Relaxed);
        counters.ring_samples.store(consumer.slots(), Ordering::Relaxed);
        let available = consumer.slots().min(frames);
        if available > 0 {
            started = true;
        }
        let mut out = data.chunks_exact_mut(channels);
        if let Ok(chunk) = consumer.read_chunk(available) {
            let (a, b) = chunk.as_slices();
            for (&s, frame) in a.iter().chain(b).zip(&mut out) {
                frame.fill(T::from_sample(s));
            }
            chunk.commit_all();
        }
        for frame in out {
            frame.fill(T::EQUILIBRIUM);
        }
        if started && available < frames {
            counters.underrun_samples.fetch_add((frames - available) as u64, Ordering::Relaxed);
        }
        // Wake the feeder to refill: a futex wake at most, no lock and no allocation.
        if let Some(feeder) = feeder.get() {
            feeder.unpark();
        }
    };
    device.build_output_stream::<T, _, _>(config, on_data, on_error, None)
}

/// What a sink's worker thread runs.
type WorkerBody = Box<dyn FnOnce() -> Result<(), MediaError> + Send>;

fn launch(
    prepared: Prepared,
    output: &AudioOutput,
    mixer: Mixer,
    counters: Arc<Counters>,
) -> Result<Running, MediaError> {
    let stop = Arc::new(AtomicBool::new(false));
    let worker_stop = Arc::clone(&stop);
    let name = output.to_string();
    let (stream, body): (Option<device::OpenStream>, WorkerBody) = match prepared {
        Prepared::Null => (None, Box::new(move || paced(&worker_stop, &mixer, &counters, |_| Ok(())))),
        Prepared::Wav { path, mut writer } => (
            None,
            Box::new(move || {
                let wav_err = |source| MediaError::Wav { path: path.clone(), source };
                let mut frames = 0u64;
                paced(&worker_stop, &mixer, &counters, |frame| {
                    let mut w = writer.get_i16_writer(frame.len() as u32);
                    for &s in frame {
                        w.write_sample(s);
                    }
                    w.flush().map_err(wav_err)?;
                    frames += 1;
                    if frames.is_multiple_of(WAV_FLUSH_FRAMES) {
                        writer.flush().map_err(wav_err)?;
                    }
                    Ok(())
                })?;
                writer.finalize().map_err(wav_err)
            }),
        ),
        Prepared::Device { stream, producer, feeder } => (
            Some(device::OpenStream(stream)),
            Box::new(move || {
                // Each launch has a fresh cell, so this is the first and only set.
                let _ = feeder.set(thread::current());
                feed(&worker_stop, &mixer, &counters, producer)
            }),
        ),
    };
    let worker = thread::Builder::new()
        .name(format!("audio-sink {name}"))
        .spawn(body)
        .map_err(|e| MediaError::Worker { name, message: e.to_string() })?;
    Ok(Running { stop, worker, stream })
}

/// Pulls one mixed frame per 20 ms of wall clock (absolute deadlines, no drift) and hands
/// it to `write`, until stopped.
fn paced(
    stop: &AtomicBool,
    mixer: &Mixer,
    counters: &Counters,
    mut write: impl FnMut(&[i16]) -> Result<(), MediaError>,
) -> Result<(), MediaError> {
    let start = Instant::now();
    let mut frame = Vec::with_capacity(AudioFormat::FRAME_SAMPLES);
    let mut n: u32 = 0;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let deadline = start + AudioFormat::FRAME_DURATION * n;
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            thread::park_timeout(wait);
            if stop.load(Ordering::Acquire) {
                break;
            }
            if let Some(rest) = deadline.checked_duration_since(Instant::now()) {
                thread::sleep(rest);
            }
        }
        mixer.mix_into(&mut frame);
        counters.frames.fetch_add(1, Ordering::Relaxed);
        write(&frame)?;
    }
    Ok(())
}

/// Keeps the device ring just full enough for the next callback: one callback's worth plus
/// one frame of slack for the feeder's own scheduling delay. Every sample queued here is
/// latency, so it never runs further ahead.
fn feed(
    stop: &AtomicBool,
    mixer: &Mixer,
    counters: &Counters,
    mut producer: rtrb::Producer<i16>,
) -> Result<(), MediaError> {
    let mut frame = Vec::with_capacity(AudioFormat::FRAME_SAMPLES);
    while !stop.load(Ordering::Acquire) {
        let queued = RING_SAMPLES - producer.slots();
        let callback = counters.callback_frames.load(Ordering::Relaxed);
        if queued < callback + AudioFormat::FRAME_SAMPLES {
            mixer.mix_into(&mut frame);
            counters.frames.fetch_add(1, Ordering::Relaxed);
            if let Ok(chunk) = producer.write_chunk_uninit(frame.len()) {
                chunk.fill_from_iter(frame.iter().copied());
            }
            continue;
        }
        // The callback unparks us after each buffer; the timeout is a backstop.
        thread::park_timeout(AudioFormat::FRAME_DURATION);
    }
    Ok(())
}

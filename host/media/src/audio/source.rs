//! Audio sources: the configured microphone (cpal input), a synthetic tone, a looped WAV
//! file, or a click train for latency measurement. Each yields paced 20 ms frames.

use std::f64::consts::TAU;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, Sample, SizedSample};
use switchboard_config::AudioInput;
use tokio::sync::mpsc;

use super::device::{self, DeviceOptions, Direction, device_error, device_name};
use super::{AudioFormat, AudioFrame, MediaError};

/// Frames a slow consumer may fall behind before new ones are dropped (1 s).
const CHANNEL_FRAMES: usize = 50;
/// Frames between a device callback and the worker that wraps them for the channel.
const DEVICE_RING_FRAMES: usize = 16;
/// Level of synthetic sources: -10 dBFS leaves headroom when several are mixed.
const SYNTH_AMPLITUDE: f64 = 0.3 * i16::MAX as f64;

/// A running source. Frames arrive on [`AudioSource::frames`] in real time; dropping the
/// source (or [`AudioSource::stop`]) stops its thread and closes its device.
#[derive(Debug)]
pub struct AudioSource {
    name: String,
    frames: mpsc::Receiver<AudioFrame>,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    // Keeps the device open; dropping it stops the callback.
    stream: Option<device::OpenStream>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    dropped: AtomicU64,
    xruns: AtomicU64,
    device_delay_us: AtomicU64,
    error: Mutex<Option<MediaError>>,
}

impl Shared {
    fn fail(&self, err: MediaError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(err);
        self.stop.store(true, Ordering::Release);
    }
}

impl AudioSource {
    /// What the source is, as written in config (e.g. `tone:440`, `device:spk_a_monitor`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The frames. `None` from `recv` means the source ended; [`AudioSource::take_error`]
    /// then says why (e.g. the device vanished: a `DEVICE_MISSING` error for the call).
    pub fn frames(&mut self) -> &mut mpsc::Receiver<AudioFrame> {
        &mut self.frames
    }

    /// Frames dropped because nobody read them fast enough.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Overruns the device reported (samples lost because the audio thread was late).
    pub fn xruns(&self) -> u64 {
        self.shared.xruns.load(Ordering::Relaxed)
    }

    /// Device sources: how long the last buffer had been captured before its callback ran,
    /// as the backend reports it.
    pub fn device_delay(&self) -> Duration {
        Duration::from_micros(self.shared.device_delay_us.load(Ordering::Relaxed))
    }

    /// The failure that ended the source, if any.
    pub fn take_error(&self) -> Option<MediaError> {
        self.shared.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Stops the source and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.stream.take();
        if let Some(worker) = self.worker.take() {
            worker.thread().unpark();
            // A worker that panicked has nothing left to clean up.
            let _ = worker.join();
        }
    }
}

impl Drop for AudioSource {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the source named by the config, a device opened with the default
/// [`DeviceOptions`].
pub fn start_source(input: &AudioInput) -> Result<AudioSource, MediaError> {
    start_source_with(input, DeviceOptions::default())
}

/// [`start_source`], a device opened with `options`.
pub fn start_source_with(input: &AudioInput, options: DeviceOptions) -> Result<AudioSource, MediaError> {
    match input {
        AudioInput::Default => start_device(device::default_device(Direction::Input)?, "default", options),
        AudioInput::Device(name) => start_device(device::find_device(Direction::Input, name)?, name, options),
        AudioInput::Tone(hz) => Ok(tone_source(f64::from(*hz), input.to_string())),
        AudioInput::Wav(path) => {
            let samples = load_wav(path)?;
            let mut pos = 0;
            Ok(synthetic(input.to_string(), move |frame: &mut [i16]| {
                for s in frame.iter_mut() {
                    *s = samples[pos];
                    pos = (pos + 1) % samples.len();
                }
            }))
        }
    }
}

fn tone_source(hz: f64, name: String) -> AudioSource {
    let step = TAU * hz / f64::from(AudioFormat::SAMPLE_RATE);
    let mut phase = 0.0f64;
    synthetic(name, move |frame: &mut [i16]| {
        for s in frame.iter_mut() {
            *s = (phase.sin() * SYNTH_AMPLITUDE) as i16;
            phase = (phase + step) % TAU;
        }
    })
}

/// A click train for latency measurement: every `period` (rounded to whole frames) a frame
/// starts with a 5 ms burst of 2 kHz at -6 dBFS, silence otherwise. The click's first
/// sample is the first sample of a frame, so its mouth time is `captured_at - 20 ms`.
pub fn click_source(period: Duration) -> AudioSource {
    let every = (period.as_millis() / AudioFormat::FRAME_DURATION.as_millis()).max(1) as u64;
    let burst = AudioFormat::SAMPLE_RATE as usize / 200;
    let step = TAU * 2000.0 / f64::from(AudioFormat::SAMPLE_RATE);
    let mut n = 0u64;
    synthetic(format!("clicks:{}ms", period.as_millis()), move |frame: &mut [i16]| {
        frame.fill(0);
        if n % every == every - 1 {
            for (i, s) in frame.iter_mut().take(burst).enumerate() {
                *s = ((i as f64 * step).sin() * 0.5 * f64::from(i16::MAX)) as i16;
            }
        }
        n += 1;
    })
}

/// Runs `fill` once per 20 ms of wall clock on its own thread. Deadlines are absolute
/// (start + n x 20 ms), so sleep overshoot does not accumulate into drift.
fn synthetic(name: String, mut fill: impl FnMut(&mut [i16]) + Send + 'static) -> AudioSource {
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let shared = Arc::new(Shared::default());
    let worker_shared = Arc::clone(&shared);
    let worker = thread::Builder::new().name(format!("audio-src {name}")).spawn(move || {
        let start = Instant::now();
        let mut n: u32 = 0;
        while !worker_shared.stop.load(Ordering::Acquire) {
            n += 1;
            let deadline = start + AudioFormat::FRAME_DURATION * n;
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                thread::park_timeout(wait);
                if worker_shared.stop.load(Ordering::Acquire) {
                    break;
                }
                // park_timeout may return early (spurious wake-ups); finish the wait.
                if let Some(rest) = deadline.checked_duration_since(Instant::now()) {
                    thread::sleep(rest);
                }
            }
            let mut samples = vec![0i16; AudioFormat::FRAME_SAMPLES];
            fill(&mut samples);
            match tx.try_send(AudioFrame { samples, captured_at: Instant::now() }) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    worker_shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
    });
    finish(name, rx, shared, worker, None)
}

fn finish(
    name: String,
    frames: mpsc::Receiver<AudioFrame>,
    shared: Arc<Shared>,
    worker: std::io::Result<JoinHandle<()>>,
    stream: Option<device::OpenStream>,
) -> AudioSource {
    let worker = match worker {
        Ok(handle) => Some(handle),
        Err(e) => {
            // Without a worker the channel is already closed (its sender was dropped with
            // the closure); record why so `take_error` explains the ended source.
            shared.fail(MediaError::Worker { name: name.clone(), message: e.to_string() });
            None
        }
    };
    AudioSource { name, frames, shared, worker, stream }
}

/// One frame as the device callback hands it to the worker: fixed size, so moving it
/// through the ring allocates nothing on the audio thread.
struct DeviceChunk {
    samples: [i16; AudioFormat::FRAME_SAMPLES],
    at: Instant,
}

fn start_device(device: cpal::Device, name: &str, options: DeviceOptions) -> Result<AudioSource, MediaError> {
    let label = if name == "default" { "default".to_owned() } else { format!("device:{name}") };
    let real_name = device_name(&device);
    let (config, format) = device::stream_config(&device, Direction::Input, &real_name, options)?;
    let (producer, mut consumer) = rtrb::RingBuffer::<DeviceChunk>::new(DEVICE_RING_FRAMES);
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    let shared = Arc::new(Shared::default());

    let worker_shared = Arc::clone(&shared);
    let worker = thread::Builder::new()
        .name(format!("audio-src {label}"))
        .spawn(move || {
            while !worker_shared.stop.load(Ordering::Acquire) {
                while let Ok(chunk) = consumer.pop() {
                    let frame = AudioFrame { samples: chunk.samples.to_vec(), captured_at: chunk.at };
                    match tx.try_send(frame) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            worker_shared.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
                // The callback unparks us after each frame; the timeout is only a backstop.
                thread::park_timeout(Duration::from_millis(100));
            }
        })
        .map_err(|e| MediaError::Worker { name: label.clone(), message: e.to_string() })?;

    let waker = worker.thread().clone();
    let err_shared = Arc::clone(&shared);
    let err_name = real_name.clone();
    let on_error = move |e: cpal::Error| {
        // An overrun loses a few samples; the stream recovers by itself.
        if e.kind() == cpal::ErrorKind::Xrun {
            err_shared.xruns.fetch_add(1, Ordering::Relaxed);
        } else {
            err_shared.fail(device_error(Direction::Input, &err_name, &e));
        }
    };
    let channels = usize::from(config.channels);
    let cb_shared = Arc::clone(&shared);
    let build = |config| match format {
        cpal::SampleFormat::F32 => {
            build_input::<f32>(&device, config, channels, producer, waker, cb_shared, on_error)
        }
        cpal::SampleFormat::I16 => {
            build_input::<i16>(&device, config, channels, producer, waker, cb_shared, on_error)
        }
        _ => build_input::<i32>(&device, config, channels, producer, waker, cb_shared, on_error),
    };
    let stream = build(config).map_err(|e| device_error(Direction::Input, &real_name, &e))?;
    stream.play().map_err(|e| device_error(Direction::Input, &real_name, &e))?;
    Ok(finish(label, rx, shared, Ok(worker), Some(device::OpenStream(stream))))
}

fn build_input<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    channels: usize,
    mut producer: rtrb::Producer<DeviceChunk>,
    waker: thread::Thread,
    shared: Arc<Shared>,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let mut acc = [0i16; AudioFormat::FRAME_SAMPLES];
    let mut filled = 0usize;
    // The real-time callback: downmix to mono, fill fixed-size chunks, push full ones.
    // No locks and no allocation here.
    let on_data = move |data: &[T], info: &cpal::InputCallbackInfo| {
        let ts = info.timestamp();
        let delay = ts.callback.duration_since(ts.capture).as_micros() as u64;
        shared.device_delay_us.store(delay, Ordering::Relaxed);
        for interleaved in data.chunks_exact(channels) {
            let sum: f32 = interleaved.iter().map(|s| f32::from_sample(*s)).sum();
            acc[filled] = i16::from_sample(sum / channels as f32);
            filled += 1;
            if filled == AudioFormat::FRAME_SAMPLES {
                filled = 0;
                let full = DeviceChunk { samples: acc, at: Instant::now() };
                // A full ring means the worker stalled; dropping audio beats blocking here.
                let _ = producer.push(full);
                waker.unpark();
            }
        }
    };
    device.build_input_stream::<T, _, _>(config, on_data, on_error, None)
}

/// Reads a WAV file into 48 kHz mono i16. Other channel counts are averaged to mono; other
/// rates are resampled by linear interpolation (fine for test signals and speech, not for
/// music); an empty file is rejected.
fn load_wav(path: &Path) -> Result<Vec<i16>, MediaError> {
    let wav_err = |source| MediaError::Wav { path: path.to_owned(), source };
    let reader = hound::WavReader::open(path).map_err(wav_err)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => {
            reader.into_samples::<f32>().collect::<Result<_, _>>().map_err(wav_err)?
        }
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(wav_err)?
        }
    };
    let mono: Vec<f32> =
        interleaved.chunks_exact(channels).map(|c| c.iter().sum::<f32>() / channels as f32).collect();
    if mono.is_empty() {
        return Err(MediaError::WavFormat { path: path.to_owned(), what: "no samples".to_owned() });
    }
    let mono = if spec.sample_rate == AudioFormat::SAMPLE_RATE {
        mono
    } else {
        resample_linear(&mono, spec.sample_rate, AudioFormat::SAMPLE_RATE)
    };
    Ok(mono.iter().map(|s| i16::from_sample(s.clamp(-1.0, 1.0))).collect())
}

fn resample_linear(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    let ratio = f64::from(from) / f64::from(to);
    let out_len = ((input.len() as f64) / ratio).floor().max(1.0) as usize;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * ratio;
            let idx = pos.floor() as usize;
            let frac = (pos - idx as f64) as f32;
            let a = input[idx.min(input.len() - 1)];
            let b = input[(idx + 1).min(input.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

//! Audio sinks: where the mixer's output goes. A cpal output device, a WAV file, or
//! nowhere (`null`), switchable mid-call.
//!
//! Every sink pulls from the [`Mixer`] at its own pace: a device sink from its output
//! callback, exactly the samples the device asks for (no queue in between, so nothing but
//! the device's own buffer sits after the jitter buffers), a WAV or null sink once per
//! 20 ms of wall clock. The mixer outlives sink changes, so moving the output keeps every
//! jitter buffer as it was.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SizedSample};
use switchboard_config::AudioOutput;

use super::device::{self, DeviceOptions, Direction, device_error, device_name};
use super::{AudioFormat, MediaError, Mixer, probe};
/// How often a WAV sink rewrites its header, so a file cut short stays valid.
const WAV_FLUSH_FRAMES: u64 = 50;

/// Counters of a sink, kept across output moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// 20 ms frames pulled from the mixer (device sinks pull part frames: their samples
    /// divided by a frame's).
    pub frames: u64,
    /// Device sinks: samples a playing participant's jitter buffer could not supply (it
    /// ran dry mid-buffer; those samples played as silence).
    pub underrun_samples: u64,
    /// Buffer under/overruns the device reported (the audio thread was late; a glitch,
    /// not a failure).
    pub xruns: u64,
    /// Device sinks: how long the last buffer written waits in the device before it plays,
    /// as the backend reports it (ALSA: the PCM delay).
    pub device_delay: Duration,
    /// Device sinks: frames the device asked for in its last callback (its period).
    pub period_frames: usize,
}

#[derive(Debug, Default)]
struct Counters {
    /// Paced sinks: whole frames; device sinks: samples (see `AudioSink::stats`).
    frames: AtomicU64,
    samples: AtomicU64,
    underrun_samples: AtomicU64,
    xruns: AtomicU64,
    device_delay_us: AtomicU64,
    period_frames: AtomicUsize,
    error: Mutex<Option<MediaError>>,
}

/// A running sink. Dropping it stops playback and finalizes a WAV file.
#[derive(Debug)]
pub struct AudioSink {
    mixer: Mixer,
    output: AudioOutput,
    /// How devices are opened, on a move too.
    options: DeviceOptions,
    counters: Arc<Counters>,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    stop: Arc<AtomicBool>,
    // Paced sinks (null, WAV) only: device sinks are driven by their callback.
    worker: Option<JoinHandle<Result<(), MediaError>>>,
    // Device sinks only, with the switch that lets their callback pull from the mixer.
    stream: Option<(device::OpenStream, Arc<AtomicBool>)>,
}

/// Starts the sink named by the config, mixing from `mixer`; a device is opened with the
/// default [`DeviceOptions`].
pub fn start_sink(output: &AudioOutput, mixer: Mixer) -> Result<AudioSink, MediaError> {
    start_sink_with(output, mixer, DeviceOptions::default())
}

/// [`start_sink`], devices (this one and any it moves to) opened with `options`.
pub fn start_sink_with(
    output: &AudioOutput,
    mixer: Mixer,
    options: DeviceOptions,
) -> Result<AudioSink, MediaError> {
    let counters = Arc::new(Counters::default());
    let prepared = prepare(output, &mixer, &counters, options)?;
    let running = launch(prepared, output, mixer.clone(), Arc::clone(&counters))?;
    Ok(AudioSink { mixer, output: output.clone(), options, counters, running: Some(running) })
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
        let prepared = prepare(output, &self.mixer, &self.counters, self.options)?;
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
            frames: self.counters.frames.load(Ordering::Relaxed)
                + self.counters.samples.load(Ordering::Relaxed) / AudioFormat::FRAME_SAMPLES as u64,
            underrun_samples: self.counters.underrun_samples.load(Ordering::Relaxed),
            xruns: self.counters.xruns.load(Ordering::Relaxed),
            device_delay: Duration::from_micros(self.counters.device_delay_us.load(Ordering::Relaxed)),
            period_frames: self.counters.period_frames.load(Ordering::Relaxed),
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
        if let Some((stream, live)) = running.stream {
            // Stop pulling at once (the next callback plays silence), then close.
            live.store(false, Ordering::Release);
            drop(stream);
        }
        let Some(worker) = running.worker else { return Ok(()) };
        worker.thread().unpark();
        worker.join().unwrap_or_else(|_| {
            Err(MediaError::Worker { name: self.output.to_string(), message: "panicked".to_owned() })
        })
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
    Device { stream: cpal::Stream, live: Arc<AtomicBool> },
}

fn prepare(
    output: &AudioOutput,
    mixer: &Mixer,
    counters: &Arc<Counters>,
    options: DeviceOptions,
) -> Result<Prepared, MediaError> {
    let device = match output {
        AudioOutput::Null => return Ok(Prepared::Null),
        AudioOutput::Wav(path) => return Ok(Prepared::Wav { path: path.clone(), writer: create_wav(path)? }),
        AudioOutput::Default => device::default_device(Direction::Output)?,
        AudioOutput::Device(name) => device::find_device(Direction::Output, name)?,
    };
    prepare_device(device, mixer, counters, options)
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

fn prepare_device(
    device: cpal::Device,
    mixer: &Mixer,
    counters: &Arc<Counters>,
    options: DeviceOptions,
) -> Result<Prepared, MediaError> {
    let name = device_name(&device);
    let (config, format) = device::stream_config(&device, Direction::Output, &name, options)?;
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
    // Silent until `launch` makes this the live output: during a move the old output keeps
    // pulling until it is closed, and two outputs must never split the mix between them.
    let live = Arc::new(AtomicBool::new(false));
    let state = Playback {
        channels,
        mixer: mixer.clone(),
        live: Arc::clone(&live),
        counters: Arc::clone(counters),
        probe: probe::take(&name),
    };
    let build = |config| match format {
        cpal::SampleFormat::F32 => build_output::<f32>(&device, config, state, on_error),
        cpal::SampleFormat::I16 => build_output::<i16>(&device, config, state, on_error),
        _ => build_output::<i32>(&device, config, state, on_error),
    };
    let stream = build(config).map_err(|e| device_error(Direction::Output, &name, &e))?;
    stream.play().map_err(|e| device_error(Direction::Output, &name, &e))?;
    Ok(Prepared::Device { stream, live })
}

/// What the output callback owns.
struct Playback {
    channels: usize,
    mixer: Mixer,
    live: Arc<AtomicBool>,
    counters: Arc<Counters>,
    probe: Option<probe::Tap>,
}

/// Mono samples mixed per step of the callback (more than any period we ask for; a larger
/// device buffer is filled in several steps).
const CALLBACK_STEP: usize = 4096;

fn build_output<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    state: Playback,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<i16>,
{
    let Playback { channels, mixer, live, counters, mut probe } = state;
    let mut mono = vec![0i16; CALLBACK_STEP];
    // The real-time callback pulls the mix straight from the jitter buffers: no queue sits
    // between the mixer and the device, so what plays is as fresh as the network allows.
    // No allocation; one short critical section in the mixer (shared only with `push`).
    let on_data = move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
        // cpal stamps the callback just before calling us, so `now` is its callback instant
        // on our clock, and the first sample of `data` reaches the device `lead` later.
        let now = Instant::now();
        let ts = info.timestamp();
        let lead = ts.playback.duration_since(ts.callback);
        counters.device_delay_us.store(lead.as_micros() as u64, Ordering::Relaxed);
        let frames = data.len() / channels;
        counters.period_frames.store(frames, Ordering::Relaxed);
        if !live.load(Ordering::Acquire) {
            data.fill(T::EQUILIBRIUM);
            return;
        }
        let mut done = 0usize;
        for out in data.chunks_mut(CALLBACK_STEP * channels) {
            let n = out.len() / channels;
            let mono = &mut mono[..n];
            let missing = mixer.mix_samples(mono);
            counters.underrun_samples.fetch_add(missing, Ordering::Relaxed);
            for (frame, &s) in out.chunks_exact_mut(channels).zip(mono.iter()) {
                frame.fill(T::from_sample(s));
            }
            if let Some(tap) = probe.as_mut() {
                let offset = Duration::from_secs_f64(done as f64 / f64::from(AudioFormat::SAMPLE_RATE));
                tap.write(now + lead + offset, mono);
            }
            done += n;
        }
        counters.samples.fetch_add(done as u64, Ordering::Relaxed);
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
    let body: WorkerBody = match prepared {
        Prepared::Null => Box::new(move || paced(&worker_stop, &mixer, &counters, |_| Ok(()))),
        Prepared::Wav { path, mut writer } => Box::new(move || {
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
        Prepared::Device { stream, live } => {
            live.store(true, Ordering::Release);
            return Ok(Running { stop, worker: None, stream: Some((device::OpenStream(stream), live)) });
        }
    };
    let worker = thread::Builder::new()
        .name(format!("audio-sink {name}"))
        .spawn(body)
        .map_err(|e| MediaError::Worker { name, message: e.to_string() })?;
    Ok(Running { stop, worker: Some(worker), stream: None })
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

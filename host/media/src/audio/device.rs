//! Finding cpal devices by the names users write in config (`device:NAME`).

use std::fmt;

use cpal::traits::{DeviceTrait, HostTrait};
use switchboard_config::MediaConfig;

use super::{AudioFormat, MediaError};

/// Which way audio flows through a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A microphone or monitor source.
    Input,
    /// A speaker or sink.
    Output,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Input => "input",
            Self::Output => "output",
        })
    }
}

/// The name a device is known by in config: the backend's device id without the host
/// prefix (on ALSA the PCM name, e.g. `spk_a` or `default`).
pub(crate) fn device_name(device: &cpal::Device) -> String {
    match device.id() {
        Ok(id) => id.id().to_owned(),
        Err(_) => device.to_string(),
    }
}

fn devices(direction: Direction) -> Result<Vec<cpal::Device>, MediaError> {
    let host = cpal::default_host();
    let list = match direction {
        Direction::Input => host.input_devices(),
        Direction::Output => host.output_devices(),
    };
    Ok(list.map_err(|e| MediaError::Host(e.to_string()))?.collect())
}

/// Names of the input devices, as `device:NAME` accepts them.
pub fn input_device_names() -> Result<Vec<String>, MediaError> {
    Ok(devices(Direction::Input)?.iter().map(device_name).collect())
}

/// Names of the output devices, as `device:NAME` accepts them.
pub fn output_device_names() -> Result<Vec<String>, MediaError> {
    Ok(devices(Direction::Output)?.iter().map(device_name).collect())
}

/// The system's default device for `direction`.
pub(crate) fn default_device(direction: Direction) -> Result<cpal::Device, MediaError> {
    let host = cpal::default_host();
    let device = match direction {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    };
    device.ok_or_else(|| MediaError::DeviceMissing {
        direction,
        name: "default".to_owned(),
        available: "none".to_owned(),
    })
}

/// The device called `name` (its id, or failing that its human description).
pub(crate) fn find_device(direction: Direction, name: &str) -> Result<cpal::Device, MediaError> {
    let all = devices(direction)?;
    if let Some(i) = all.iter().position(|d| device_name(d) == name) {
        return Ok(all.into_iter().nth(i).expect("index from position"));
    }
    if let Some(i) = all.iter().position(|d| d.description().is_ok_and(|desc| desc.name() == name)) {
        return Ok(all.into_iter().nth(i).expect("index from position"));
    }
    Err(MediaError::DeviceMissing {
        direction,
        name: name.to_owned(),
        available: all.iter().map(device_name).collect::<Vec<_>>().join(", "),
    })
}

/// Turns a cpal error about device `name` into ours, keeping "unavailable" distinct.
pub(crate) fn device_error(direction: Direction, name: &str, err: &cpal::Error) -> MediaError {
    match err.kind() {
        cpal::ErrorKind::DeviceNotAvailable => {
            MediaError::DeviceUnavailable { direction, name: name.to_owned() }
        }
        _ => MediaError::Device { direction, name: name.to_owned(), message: err.to_string() },
    }
}

/// How audio devices are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceOptions {
    /// The buffer period asked of the device, in frames (`[media] audio_period_frames`).
    /// cpal double-buffers it, so the ALSA buffer is two periods. The default, 256 frames
    /// (5.3 ms): with the sink pulling straight from the mixer, the device delay is
    /// ~6-11 ms instead of ~27 ms for one 20 ms frame, and on an unloaded machine it had
    /// no more xruns or jitter-buffer underruns than 960 (fewer underrun samples, in fact;
    /// BENCHMARKS.md, "Audio"). A machine so loaded that cpal's thread is often late (the
    /// shared build machine at load 6+) gets xruns at 256; 960 trades ~20 ms of latency
    /// for robustness there. A device that refuses the period fails to open with an
    /// error naming it.
    pub period_frames: u32,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        Self::from(&MediaConfig::default())
    }
}

impl From<&MediaConfig> for DeviceOptions {
    fn from(media: &MediaConfig) -> Self {
        Self { period_frames: media.audio_period_frames }
    }
}

/// Picks a 48 kHz stream config for the device, preferring f32 then i16, and the fewest
/// channels (we only carry mono).
pub(crate) fn stream_config(
    device: &cpal::Device,
    direction: Direction,
    name: &str,
    options: DeviceOptions,
) -> Result<(cpal::StreamConfig, cpal::SampleFormat), MediaError> {
    let ranges: Vec<cpal::SupportedStreamConfigRange> = match direction {
        Direction::Input => device.supported_input_configs().map(|r| r.collect()),
        Direction::Output => device.supported_output_configs().map(|r| r.collect()),
    }
    .map_err(|e| device_error(direction, name, &e))?;
    let rate = AudioFormat::SAMPLE_RATE;
    let usable = |format: cpal::SampleFormat| {
        ranges
            .iter()
            .filter(|r| {
                r.sample_format() == format && r.min_sample_rate() <= rate && rate <= r.max_sample_rate()
            })
            .min_by_key(|r| r.channels())
    };
    for format in [cpal::SampleFormat::F32, cpal::SampleFormat::I16, cpal::SampleFormat::I32] {
        if let Some(range) = usable(format) {
            let config = cpal::StreamConfig {
                channels: range.channels(),
                sample_rate: rate,
                buffer_size: cpal::BufferSize::Fixed(options.period_frames),
            };
            return Ok((config, format));
        }
    }
    Err(MediaError::UnsupportedDevice {
        direction,
        name: name.to_owned(),
        what: "48 kHz in f32, i16 or i32 samples".to_owned(),
    })
}

/// An open cpal stream; the device plays or records for as long as this lives.
pub(crate) struct OpenStream(
    #[expect(dead_code, reason = "held only for its Drop, which closes the device")] pub(crate) cpal::Stream,
);

impl fmt::Debug for OpenStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpenStream")
    }
}

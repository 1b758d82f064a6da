//! VP8 through libvpx (`env-libvpx-sys`), wrapped safely: real-time CBR encoding with
//! keyframes on demand (`VPX_EFLAG_FORCE_KF`) and periodically, and decoding to I420.
//!
//! This is the only file that calls libvpx. Every call goes through a context that is
//! boxed (libvpx keeps pointers to it and to its config), initialised before use and
//! destroyed exactly once in `Drop`.

use std::ffi::CStr;
use std::os::raw::{c_int, c_uint, c_ulong};
use std::ptr;

use vpx_sys as vpx;

use super::VideoError;
use super::codec::{EncodedFrame, EncoderSettings, VideoCodec};
use super::frame::I420Frame;

/// libvpx's CPU/quality trade-off for VP8 real-time encoding, negative for "real time,
/// adapt to the deadline". -6 is what libwebrtc uses on desktop for VP8 at these sizes.
const CPU_USED: c_int = -6;
/// Keyframes may be at most 3x the size of an average frame (libwebrtc's bound), so a
/// keyframe on PLI does not burst the link.
const MAX_INTRA_BITRATE_PCT: c_int = 300;

fn codec_error(
    operation: &'static str,
    err: vpx::vpx_codec_err_t,
    ctx: Option<&mut vpx::vpx_codec_ctx_t>,
) -> VideoError {
    // SAFETY: vpx_codec_err_to_string returns a pointer to a static NUL-terminated string
    // for every error value, never null.
    let mut detail =
        unsafe { CStr::from_ptr(vpx::vpx_codec_err_to_string(err)) }.to_string_lossy().into_owned();
    if let Some(ctx) = ctx {
        // SAFETY: ctx is an initialised context; vpx_codec_error_detail returns null or a
        // NUL-terminated string owned by the context, read before the context changes.
        let extra = unsafe { vpx::vpx_codec_error_detail(ctx) };
        if !extra.is_null() {
            // SAFETY: checked non-null above; see the previous SAFETY note.
            let extra = unsafe { CStr::from_ptr(extra) }.to_string_lossy();
            detail = format!("{detail} ({extra})");
        }
    }
    VideoError::Codec { codec: VideoCodec::Vp8, operation, detail }
}

fn check(
    operation: &'static str,
    err: vpx::vpx_codec_err_t,
    ctx: &mut vpx::vpx_codec_ctx_t,
) -> Result<(), VideoError> {
    if err == vpx::vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(codec_error(operation, err, Some(ctx)))
    }
}

fn zeroed_ctx() -> Box<vpx::vpx_codec_ctx_t> {
    // SAFETY: vpx_codec_ctx_t is plain C data: null pointers, a zero error code
    // (VPX_CODEC_OK), zero flags and a pointer union are all valid as zero bytes, and
    // libvpx documents zeroing a context before init.
    Box::new(unsafe { std::mem::zeroed() })
}

/// A VP8 encoder.
pub struct Vp8Encoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    // Kept alive and unmoved for the context's life: libvpx stores a pointer to it.
    _cfg: Box<vpx::vpx_codec_enc_cfg_t>,
    settings: EncoderSettings,
    last_pts: Option<i64>,
}

// SAFETY: a libvpx context has no thread affinity; it may be used from any thread as long
// as calls do not overlap, which `&mut self` on every method guarantees. Nothing in it is
// shared with other contexts.
unsafe impl Send for Vp8Encoder {}

impl std::fmt::Debug for Vp8Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Encoder").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Vp8Encoder {
    /// Opens a real-time VP8 encoder.
    pub fn new(settings: EncoderSettings) -> Result<Self, VideoError> {
        settings.validate()?;
        // SAFETY: returns a pointer to libvpx's static VP8 encoder interface.
        let iface = unsafe { vpx::vpx_codec_vp8_cx() };
        // The config has enums without a zero variant (bit depth), so it cannot start zeroed:
        // libvpx writes every field of it.
        let mut cfg: Box<std::mem::MaybeUninit<vpx::vpx_codec_enc_cfg_t>> =
            Box::new(std::mem::MaybeUninit::uninit());
        // SAFETY: iface is valid; cfg points to writable memory for one config; usage 0 is
        // the only usage VP8 has.
        let err = unsafe { vpx::vpx_codec_enc_config_default(iface, cfg.as_mut_ptr(), 0) };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(codec_error("config_default", err, None));
        }
        // SAFETY: config_default returned OK, which means it filled in the whole config.
        let mut cfg: Box<vpx::vpx_codec_enc_cfg_t> = unsafe { cfg.assume_init() };
        cfg.g_w = settings.width;
        cfg.g_h = settings.height;
        // Timestamps are microseconds throughout the pipeline.
        cfg.g_timebase = vpx::vpx_rational { num: 1, den: 1_000_000 };
        cfg.g_threads = settings.threads;
        cfg.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        // No look-ahead: every input frame comes out at once, as real time needs.
        cfg.g_lag_in_frames = 0;
        // Frames reference only what a receiver that lost packets can still have.
        cfg.g_error_resilient = vpx::VPX_ERROR_RESILIENT_DEFAULT;
        cfg.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        cfg.rc_target_bitrate = (settings.bitrate_bps / 1000).max(1);
        // Never drop a frame inside the encoder: the frame counter a receiver reads should
        // move on every frame, and the link is paced by bitrate, not by skipping.
        cfg.rc_dropframe_thresh = 0;
        cfg.rc_resize_allowed = 0;
        cfg.rc_min_quantizer = 2;
        cfg.rc_max_quantizer = 56;
        cfg.rc_undershoot_pct = 100;
        cfg.rc_overshoot_pct = 15;
        cfg.rc_buf_initial_sz = 500;
        cfg.rc_buf_optimal_sz = 600;
        cfg.rc_buf_sz = 1000;
        cfg.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = settings.keyframe_interval;

        let mut ctx = zeroed_ctx();
        // SAFETY: ctx is a zeroed context and cfg a valid config, both boxed so their
        // addresses stay fixed for as long as the encoder lives; the ABI version is the one
        // the bindings were generated for (checked by libvpx).
        let err = unsafe {
            vpx::vpx_codec_enc_init_ver(&mut *ctx, iface, &*cfg, 0, vpx::VPX_ENCODER_ABI_VERSION as c_int)
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            // libvpx releases what it allocated when init fails; nothing to destroy.
            return Err(codec_error("init", err, Some(&mut ctx)));
        }
        let mut encoder = Self { ctx, _cfg: cfg, settings, last_pts: None };
        encoder.control(vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED, CPU_USED)?;
        encoder.control(vpx::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        encoder.control(vpx::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD, 1)?;
        encoder.control(vpx::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT, MAX_INTRA_BITRATE_PCT)?;
        Ok(encoder)
    }

    fn control(&mut self, id: vpx::vp8e_enc_control_id, value: c_int) -> Result<(), VideoError> {
        // SAFETY: the context is initialised; each control used here takes one int
        // argument, which is what is passed through the varargs.
        let err = unsafe { vpx::vpx_codec_control_(&mut *self.ctx, id as c_int, value) };
        check("control", err, &mut self.ctx)
    }

    /// The settings in force.
    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Encodes one frame of the configured size; `force_keyframe` makes it a key frame.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, VideoError> {
        if (frame.width(), frame.height()) != (self.settings.width, self.settings.height) {
            return Err(VideoError::InvalidSize { width: frame.width(), height: frame.height() });
        }
        // SAFETY: vpx_image_t is plain C data; zero is a valid value for every field, and
        // vpx_img_wrap below fills in the format fields.
        let mut img: vpx::vpx_image_t = unsafe { std::mem::zeroed() };
        // SAFETY: img is writable; with a non-null data pointer vpx_img_wrap allocates
        // nothing and only records the pointer, which is replaced below. The encoder only
        // reads the planes (it copies them into its own buffers), so casting away const is
        // sound.
        let wrapped = unsafe {
            vpx::vpx_img_wrap(
                &mut img,
                vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
                frame.width(),
                frame.height(),
                1,
                frame.y().as_ptr().cast_mut(),
            )
        };
        if wrapped.is_null() {
            return Err(VideoError::Codec {
                codec: VideoCodec::Vp8,
                operation: "wrap image",
                detail: format!("libvpx refused a {}x{} I420 image", frame.width(), frame.height()),
            });
        }
        // Point the image at the frame's own planes and strides: they are tightly packed,
        // which is not the layout vpx_img_wrap assumes for one contiguous buffer.
        img.planes = [
            frame.y().as_ptr().cast_mut(),
            frame.u().as_ptr().cast_mut(),
            frame.v().as_ptr().cast_mut(),
            ptr::null_mut(),
        ];
        let cw = frame.chroma_width() as c_int;
        img.stride = [frame.width() as c_int, cw, cw, 0];

        // libvpx wants strictly increasing timestamps; a source restarting at 0 (a camera
        // switch) must not trip it, so the codec's clock only ever moves forward.
        let duration = self.settings.frame_duration_us();
        let wanted = frame.timestamp_us as i64;
        let pts = match self.last_pts {
            Some(last) if wanted <= last => last + 1,
            _ => wanted,
        };
        self.last_pts = Some(pts);
        let flags = if force_keyframe { vpx::VPX_EFLAG_FORCE_KF as vpx::vpx_enc_frame_flags_t } else { 0 };
        // SAFETY: the context is initialised; img describes planes that live in `frame`,
        // borrowed for this call, with the strides and sizes set above. libvpx copies what
        // it needs before returning (lag 0).
        let err = unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                pts,
                duration as c_ulong,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            )
        };
        check("encode", err, &mut self.ctx)?;

        let mut out = Vec::new();
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: the context is initialised and iter starts null, as libvpx requires;
            // the returned packet stays valid until the next call on the context.
            let pkt = unsafe { vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: non-null packets point to a valid vpx_codec_cx_pkt_t.
            let pkt = unsafe { &*pkt };
            if pkt.kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: for a frame packet the `frame` member of the union is the active one.
            let f = unsafe { pkt.data.frame };
            if f.buf.is_null() || f.sz == 0 {
                continue;
            }
            // SAFETY: buf points to sz bytes owned by the encoder, valid until the next
            // call on the context; they are copied out at once.
            let data = unsafe { std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz as usize) }.to_vec();
            out.push(EncodedFrame {
                codec: VideoCodec::Vp8,
                data,
                keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                timestamp_us: frame.timestamp_us,
            });
        }
        Ok(out)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` (a failed init never builds a
        // Vp8Encoder) and is destroyed only here, once.
        unsafe { vpx::vpx_codec_destroy(&mut *self.ctx) };
    }
}

/// A VP8 decoder.
pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    // Kept alive and unmoved for the context's life: libvpx stores a pointer to it.
    _cfg: Box<vpx::vpx_codec_dec_cfg_t>,
}

// SAFETY: as for Vp8Encoder: no thread affinity, and `&mut self` serialises calls.
unsafe impl Send for Vp8Decoder {}

impl std::fmt::Debug for Vp8Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vp8Decoder").finish_non_exhaustive()
    }
}

impl Vp8Decoder {
    /// Opens a VP8 decoder.
    pub fn new() -> Result<Self, VideoError> {
        // One thread: a call decodes one stream per remote participant, in parallel.
        let cfg = Box::new(vpx::vpx_codec_dec_cfg_t { threads: 1, w: 0, h: 0 });
        let mut ctx = zeroed_ctx();
        // SAFETY: ctx is a zeroed context and cfg a valid config, both boxed so their
        // addresses stay fixed; the interface is libvpx's static VP8 decoder; the ABI
        // version is the one the bindings were generated for.
        let err = unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                &*cfg,
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(codec_error("init decoder", err, Some(&mut ctx)));
        }
        Ok(Self { ctx, _cfg: cfg })
    }

    /// Decodes one VP8 frame.
    pub fn decode(&mut self, data: &[u8], timestamp_us: u64) -> Result<Option<I420Frame>, VideoError> {
        if data.is_empty() {
            // An empty buffer means "flush" to libvpx; VP8 has no delayed frames, so there
            // is nothing to return.
            return Ok(None);
        }
        let len = c_uint::try_from(data.len()).map_err(|_| VideoError::Codec {
            codec: VideoCodec::Vp8,
            operation: "decode",
            detail: format!("frame of {} bytes is too large", data.len()),
        })?;
        // SAFETY: the context is initialised; data is a live slice of len bytes that
        // libvpx reads during the call only.
        let err = unsafe { vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0) };
        check("decode", err, &mut self.ctx)?;

        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        let mut last = None;
        loop {
            // SAFETY: the context is initialised and iter starts null; images stay valid
            // until the next decode call on the context.
            let img = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            // SAFETY: non-null images point to a valid vpx_image_t owned by the decoder.
            last = Some(copy_image(unsafe { &*img }, timestamp_us)?);
        }
        Ok(last)
    }
}

fn copy_image(img: &vpx::vpx_image_t, timestamp_us: u64) -> Result<I420Frame, VideoError> {
    if img.fmt != vpx::vpx_img_fmt::VPX_IMG_FMT_I420 {
        return Err(VideoError::Codec {
            codec: VideoCodec::Vp8,
            operation: "decode",
            detail: format!("decoder produced {:?}, not I420", img.fmt),
        });
    }
    let (w, h) = (img.d_w, img.d_h);
    let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
    let plane = |i: usize, rows: usize, row_len: usize| -> (&[u8], usize) {
        let stride = img.stride[i].max(0) as usize;
        let len = stride * (rows - 1) + row_len;
        // SAFETY: libvpx's decoded image holds `rows` rows of at least `row_len` bytes at
        // `stride` apart in plane i; the slice ends at the last byte of the last row and
        // lives as long as `img`, which outlives this copy.
        (unsafe { std::slice::from_raw_parts(img.planes[i], len) }, stride)
    };
    if w == 0 || h == 0 || img.planes[..3].iter().any(|p| p.is_null()) {
        return Err(VideoError::Codec {
            codec: VideoCodec::Vp8,
            operation: "decode",
            detail: format!("decoder produced an empty {w}x{h} image"),
        });
    }
    let planes = [plane(0, h as usize, w as usize), plane(1, ch, cw), plane(2, ch, cw)];
    I420Frame::copy_from_strided(w, h, planes, timestamp_us)
}

//! The thin layer over libwebm's muxer (our binding in `cpp/mkv.cc`): declare tracks, add
//! frames, finalize. Everything about the container format lives in libwebm.

use std::ffi::{c_char, c_int, CStr};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::config::AudioConfig;
use crate::frame::{Codec, Kind};
use crate::opus::{opus_head, OPUS_CLOCK_RATE};
use crate::Error;

/// libwebm, compiled by webm-sys; our binding calls into it.
use webm_sys as _;

#[repr(C)]
struct RawMkv {
    _private: [u8; 0],
}

extern "C" {
    fn concord_mkv_open(fd: c_int, writing_app: *const c_char) -> *mut RawMkv;
    fn concord_mkv_add_video(
        mkv: *mut RawMkv,
        codec_id: *const c_char,
        width: i32,
        height: i32,
        codec_private: *const u8,
        codec_private_len: usize,
    ) -> u64;
    fn concord_mkv_add_audio(
        mkv: *mut RawMkv,
        codec_id: *const c_char,
        sample_rate: i32,
        channels: i32,
        codec_private: *const u8,
        codec_private_len: usize,
    ) -> u64;
    fn concord_mkv_add_frame(
        mkv: *mut RawMkv,
        track: u64,
        data: *const u8,
        len: usize,
        timestamp_ns: u64,
        keyframe: c_int,
    ) -> c_int;
    fn concord_mkv_force_new_cluster(mkv: *mut RawMkv);
    fn concord_mkv_finalize(mkv: *mut RawMkv) -> c_int;
    fn concord_mkv_flush(mkv: *mut RawMkv) -> c_int;
    fn concord_mkv_io_error(mkv: *const RawMkv) -> c_int;
    fn concord_mkv_free(mkv: *mut RawMkv);
}

const WRITING_APP: &CStr = c"concord-recording";
const VP8: &CStr = c"V_VP8";
const H264: &CStr = c"V_MPEG4/ISO/AVC";
const OPUS: &CStr = c"A_OPUS";

/// The video track as declared in the header.
pub struct VideoTrack {
    pub codec: Codec,
    pub width: u32,
    pub height: u32,
    /// H.264's AVCDecoderConfigurationRecord; empty for VP8.
    pub codec_private: Vec<u8>,
}

pub struct Muxer {
    raw: *mut RawMkv,
    /// The descriptor libwebm writes through: kept open for as long as `raw` lives.
    _file: File,
    path: PathBuf,
    audio: Option<u64>,
    video: Option<u64>,
}

// The raw segment is owned by this value alone and libwebm keeps no thread-local state.
unsafe impl Send for Muxer {}

impl Muxer {
    /// Declares the tracks. libwebm writes the header with the first frame.
    pub fn start(
        file: File,
        path: &Path,
        audio: Option<&AudioConfig>,
        video: Option<&VideoTrack>,
    ) -> Result<Self, Error> {
        // SAFETY: the descriptor is open (owned by `file`, which the muxer keeps) and the
        // writing app is a NUL-terminated constant.
        let raw = unsafe { concord_mkv_open(file.as_raw_fd(), WRITING_APP.as_ptr()) };
        if raw.is_null() {
            return Err(Error::Muxer {
                what: "initialise the segment",
            });
        }
        let mut muxer = Muxer {
            raw,
            _file: file,
            path: path.to_path_buf(),
            audio: None,
            video: None,
        };
        if let Some(v) = video {
            let codec_id = match v.codec {
                Codec::Vp8 => VP8,
                Codec::H264 => H264,
                Codec::Opus => return Err(Error::Invalid("Opus as a video codec".into())),
            };
            let size = |n: u32| i32::try_from(n).map_err(|_| Error::Invalid("video size".into()));
            // SAFETY: `raw` is live; the codec id is NUL-terminated and the codec private
            // data is a valid slice, copied by libwebm.
            let track = unsafe {
                concord_mkv_add_video(
                    muxer.raw,
                    codec_id.as_ptr(),
                    size(v.width)?,
                    size(v.height)?,
                    v.codec_private.as_ptr(),
                    v.codec_private.len(),
                )
            };
            if track == 0 {
                return Err(Error::Muxer {
                    what: "add the video track",
                });
            }
            muxer.video = Some(track);
        }
        if let Some(cfg) = audio {
            if cfg.codec != Codec::Opus {
                return Err(Error::Unsupported(format!("{:?} audio", cfg.codec)));
            }
            // Without the OpusHead players cannot know the channel count and pre-skip.
            let head = opus_head(cfg.channels, cfg.pre_skip, cfg.input_sample_rate)?;
            // SAFETY: as for the video track.
            let track = unsafe {
                concord_mkv_add_audio(
                    muxer.raw,
                    OPUS.as_ptr(),
                    OPUS_CLOCK_RATE as i32,
                    i32::from(cfg.channels),
                    head.as_ptr(),
                    head.len(),
                )
            };
            if track == 0 {
                return Err(Error::Muxer {
                    what: "add the audio track",
                });
            }
            muxer.audio = Some(track);
        }
        Ok(muxer)
    }

    /// `timestamp_ns` must not be below any earlier frame's, on any track.
    pub fn write(
        &mut self,
        kind: Kind,
        data: &[u8],
        timestamp_ns: u64,
        key: bool,
    ) -> Result<(), Error> {
        let track = match kind {
            Kind::Audio => self.audio,
            Kind::Video => self.video,
        }
        .ok_or_else(|| Error::Invalid(format!("{kind:?} frame but no such track")))?;
        // SAFETY: `raw` is live and `data` is a valid slice, copied or written by libwebm
        // before this returns.
        let ok = unsafe {
            concord_mkv_add_frame(
                self.raw,
                track,
                data.as_ptr(),
                data.len(),
                timestamp_ns,
                c_int::from(key),
            )
        };
        self.check(ok, "add a frame")
    }

    /// The next frame starts a cluster, and the audio libwebm holds back waiting for video is
    /// written before it.
    pub fn force_new_cluster(&mut self) {
        // SAFETY: `raw` is live.
        unsafe { concord_mkv_force_new_cluster(self.raw) }
    }

    /// Hands what libwebm wrote since the last flush to the kernel (it is buffered: libwebm
    /// writes an element at a time).
    pub fn flush(&mut self) -> Result<(), Error> {
        // SAFETY: `raw` is live.
        let ok = unsafe { concord_mkv_flush(self.raw) };
        self.check(ok, "write to the file")
    }

    /// Writes cues, duration and the final sizes. Fails if no frame was ever added.
    pub fn finish(self) -> Result<(), Error> {
        // SAFETY: `raw` is live; it is freed by `drop` after this.
        let ok = unsafe { concord_mkv_finalize(self.raw) };
        self.check(ok, "finalize the segment")
    }

    /// An I/O failure becomes [`Error::Io`] with the OS's reason, anything else a muxer error.
    fn check(&self, ok: c_int, what: &'static str) -> Result<(), Error> {
        if ok != 0 {
            return Ok(());
        }
        // SAFETY: `raw` is live.
        match unsafe { concord_mkv_io_error(self.raw) } {
            0 => Err(Error::Muxer { what }),
            errno => Err(Error::io(
                &self.path,
                std::io::Error::from_raw_os_error(errno),
            )),
        }
    }
}

impl Drop for Muxer {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `concord_mkv_open` and is freed once, here; the file it
        // writes to is closed only afterwards (fields drop after this body).
        unsafe { concord_mkv_free(self.raw) }
    }
}

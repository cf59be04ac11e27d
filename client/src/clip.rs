//! Real encoded media, prepared once: `ffmpeg` renders a generated test clip (`testsrc2` picture,
//! a 440 Hz sine) to VP8 in IVF and Opus in Ogg, cached in a directory keyed by the parameters,
//! and the frames are read back into memory for publishers to loop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;

/// How a clip is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Target video bitrate, bits per second.
    pub video_bitrate: u32,
    /// Target Opus bitrate, bits per second.
    pub audio_bitrate: u32,
    pub seconds: u32,
    /// A keyframe every this many frames.
    pub keyframe_interval: u32,
}

impl Default for ClipSpec {
    fn default() -> Self {
        Self {
            width: 640,
            height: 360,
            fps: 30,
            video_bitrate: 500_000,
            audio_bitrate: 32_000,
            seconds: 10,
            keyframe_interval: 60,
        }
    }
}

impl ClipSpec {
    /// The cache file stem: every parameter that changes the output.
    fn key(&self) -> String {
        format!(
            "testsrc2-{}x{}-{}fps-vp8-{}bps-g{}-opus-{}bps-{}s",
            self.width,
            self.height,
            self.fps,
            self.video_bitrate,
            self.keyframe_interval,
            self.audio_bitrate,
            self.seconds
        )
    }
}

/// One encoded VP8 frame.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    pub data: Bytes,
    pub keyframe: bool,
}

/// One Opus packet and its duration in 48 kHz samples.
#[derive(Debug, Clone)]
pub struct AudioPacket {
    pub data: Bytes,
    pub samples: u32,
}

/// A clip in memory.
#[derive(Debug, Clone)]
pub struct Clip {
    pub spec: ClipSpec,
    pub video: Vec<VideoFrame>,
    pub audio: Vec<AudioPacket>,
}

impl Clip {
    /// Loads the clip for `spec` from `cache_dir`, encoding it with `ffmpeg` first if it is not
    /// there yet.
    pub fn prepare(spec: &ClipSpec, cache_dir: &Path) -> Result<Clip> {
        let (ivf, ogg) = encode(spec, cache_dir)?;
        let ivf_bytes =
            std::fs::read(&ivf).with_context(|| format!("reading {}", ivf.display()))?;
        let ogg_bytes =
            std::fs::read(&ogg).with_context(|| format!("reading {}", ogg.display()))?;
        let video = read_ivf(&ivf_bytes).with_context(|| format!("parsing {}", ivf.display()))?;
        let audio =
            read_ogg_opus(&ogg_bytes).with_context(|| format!("parsing {}", ogg.display()))?;
        ensure!(
            video.first().is_some_and(|f| f.keyframe),
            "{} does not start with a keyframe",
            ivf.display()
        );
        ensure!(!audio.is_empty(), "{} has no Opus packets", ogg.display());
        Ok(Clip {
            spec: spec.clone(),
            video,
            audio,
        })
    }

    /// The default cache directory: `$XDG_CACHE_HOME/concord-clips`, `~/.cache/concord-clips`,
    /// or the temporary directory.
    pub fn default_cache_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("concord-clips");
        }
        if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(home).join(".cache").join("concord-clips");
        }
        std::env::temp_dir().join("concord-clips")
    }

    /// Index of the first keyframe at or after `from` (wrapping around the clip).
    pub fn next_keyframe(&self, from: usize) -> usize {
        let n = self.video.len();
        (0..n)
            .map(|i| (from + i) % n)
            .find(|&i| self.video[i].keyframe)
            .unwrap_or(0)
    }

    /// Encoded video bits per second of the clip as prepared.
    pub fn video_bitrate(&self) -> f64 {
        let bytes: usize = self.video.iter().map(|f| f.data.len()).sum();
        bytes as f64 * 8.0 * f64::from(self.spec.fps) / self.video.len().max(1) as f64
    }
}

/// The rids of a simulcast video, lowest layer first, as the web client names them
/// (`web/assets/layers.js`).
pub const SIMULCAST_RIDS: [&str; 3] = ["q", "h", "f"];

/// One clip per simulcast encoding, lowest first: each layer a picture of its own size and
/// bitrate, encoded separately, as a browser's simulcast encoders do.
#[derive(Debug, Clone)]
pub struct SimulcastClip {
    pub layers: Vec<SimulcastLayer>,
}

/// One encoding of a [`SimulcastClip`].
#[derive(Debug, Clone)]
pub struct SimulcastLayer {
    pub rid: String,
    pub clip: Arc<Clip>,
}

impl SimulcastClip {
    /// The load generator's three layers, like the web client's (q, h, f): 320x180 at 150
    /// kbit/s, 640x360 at `middle_bitrate`, 1280x720 at 1.2 Mbit/s (or 2.4 × the middle one if
    /// that is more); the rest of `base` (frame rate, length, keyframe interval, audio) shared.
    pub fn default_specs(base: &ClipSpec, middle_bitrate: u32) -> Vec<(String, ClipSpec)> {
        let sizes = [
            (320, 180, 150_000),
            (640, 360, middle_bitrate),
            (
                1280,
                720,
                1_200_000.max(middle_bitrate.saturating_mul(12) / 5),
            ),
        ];
        SIMULCAST_RIDS
            .iter()
            .zip(sizes)
            .map(|(rid, (width, height, video_bitrate))| {
                let spec = ClipSpec {
                    width,
                    height,
                    video_bitrate,
                    ..base.clone()
                };
                ((*rid).to_owned(), spec)
            })
            .collect()
    }

    /// Loads (encoding first if needed) one clip per `(rid, spec)`, lowest layer first. The
    /// layers must share a frame rate: they are sent frame by frame together.
    pub fn prepare(layers: &[(String, ClipSpec)], cache_dir: &Path) -> Result<SimulcastClip> {
        ensure!(
            !layers.is_empty(),
            "a simulcast clip needs at least one layer"
        );
        let fps = layers[0].1.fps;
        ensure!(
            layers.iter().all(|(_, spec)| spec.fps == fps),
            "simulcast layers must share a frame rate"
        );
        let layers = layers
            .iter()
            .map(|(rid, spec)| {
                Ok(SimulcastLayer {
                    rid: rid.clone(),
                    clip: Arc::new(Clip::prepare(spec, cache_dir)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SimulcastClip { layers })
    }

    /// The rids, lowest layer first.
    pub fn rids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.rid.clone()).collect()
    }

    /// Encoded video bits per second of every layer together.
    pub fn video_bitrate(&self) -> f64 {
        self.layers.iter().map(|l| l.clip.video_bitrate()).sum()
    }
}

/// Runs `ffmpeg` unless both outputs are already cached; returns (IVF, Ogg).
///
/// Safe when several threads or processes prepare the same clip at once: they take turns on a
/// lock file beside the clip, the first one encodes, and the others find the finished files.
/// Each encoding writes under names of its own and renames them into place, so a half-written
/// clip is never seen, even by a reader that does not take the lock.
fn encode(spec: &ClipSpec, cache_dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let key = spec.key();
    let ivf = cache_dir.join(format!("{key}.ivf"));
    let ogg = cache_dir.join(format!("{key}.ogg"));
    if ivf.is_file() && ogg.is_file() {
        return Ok((ivf, ogg));
    }
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating the clip cache {}", cache_dir.display()))?;
    let lock_path = cache_dir.join(format!("{key}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    // Released when `lock` is dropped (or the process dies).
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    if ivf.is_file() && ogg.is_file() {
        return Ok((ivf, ogg));
    }
    let suffix = unique_suffix();
    let tmp = |p: &Path| {
        let mut name = p.as_os_str().to_owned();
        name.push(&suffix);
        PathBuf::from(name)
    };
    let (ivf_tmp, ogg_tmp) = (tmp(&ivf), tmp(&ogg));
    let result = run_ffmpeg(spec, &ivf_tmp, &ogg_tmp).and_then(|()| {
        std::fs::rename(&ivf_tmp, &ivf)
            .with_context(|| format!("storing the IVF clip {}", ivf.display()))?;
        std::fs::rename(&ogg_tmp, &ogg)
            .with_context(|| format!("storing the Ogg clip {}", ogg.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&ivf_tmp);
        let _ = std::fs::remove_file(&ogg_tmp);
    }
    result.map(|()| (ivf, ogg))
}

/// A temporary-file suffix no other call, thread or process uses at the same time.
fn unique_suffix() -> String {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(".tmp-{}-{call}", std::process::id())
}

/// Encodes the clip for `spec` into `ivf` and `ogg`.
fn run_ffmpeg(spec: &ClipSpec, ivf: &Path, ogg: &Path) -> Result<()> {
    let video_src = format!(
        "testsrc2=size={}x{}:rate={}",
        spec.width, spec.height, spec.fps
    );
    let sine = "sine=frequency=440:sample_rate=48000".to_owned();
    let secs = spec.seconds.to_string();
    let vb = spec.video_bitrate.to_string();
    let ab = spec.audio_bitrate.to_string();
    let g = spec.keyframe_interval.to_string();
    #[rustfmt::skip]
    let args: Vec<&str> = vec![
        "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", &video_src,
        "-f", "lavfi", "-i", &sine,
        "-map", "0:v", "-t", &secs, "-c:v", "libvpx", "-b:v", &vb, "-g", &g, "-keyint_min", &g,
        "-deadline", "realtime", "-cpu-used", "8", "-auto-alt-ref", "0", "-lag-in-frames", "0",
        "-f", "ivf",
    ];
    let mut cmd = Command::new("ffmpeg");
    cmd.args(&args).arg(ivf);
    #[rustfmt::skip]
    cmd.args([
        "-map", "1:a", "-t", &secs, "-c:a", "libopus", "-b:a", &ab, "-frame_duration", "20",
        "-application", "voip", "-ac", "1", "-f", "ogg",
    ])
    .arg(ogg);
    let output = match cmd.output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "`ffmpeg` was not found on PATH: it is needed once to prepare the test clip \
             (Debian: `apt-get install ffmpeg`, which provides libvpx and libopus)"
        ),
        Err(err) => return Err(err).context("running ffmpeg"),
    };
    ensure!(
        output.status.success(),
        "ffmpeg failed ({}) preparing the test clip: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// VP8 frames of an IVF file (32-byte file header, then 12-byte frame headers: size, pts).
pub fn read_ivf(data: &[u8]) -> Result<Vec<VideoFrame>> {
    ensure!(data.len() >= 32 && &data[..4] == b"DKIF", "not an IVF file");
    ensure!(&data[8..12] == b"VP80", "IVF codec is not VP8");
    let header_len = usize::from(u16::from_le_bytes([data[6], data[7]]));
    let mut pos = header_len.max(32);
    let mut frames = Vec::new();
    let whole = Bytes::copy_from_slice(data);
    while pos + 12 <= data.len() {
        let size = u32::from_le_bytes([data[pos], data[pos + 1], data[pos + 2], data[pos + 3]]);
        let start = pos + 12;
        let end = start + size as usize;
        ensure!(end <= data.len(), "IVF frame at {pos} runs past the end");
        ensure!(size > 0, "empty IVF frame at {pos}");
        frames.push(VideoFrame {
            keyframe: data[start] & 0x01 == 0,
            data: whole.slice(start..end),
        });
        pos = end;
    }
    ensure!(!frames.is_empty(), "IVF file has no frames");
    Ok(frames)
}

/// Opus packets of an Ogg file: pages → packets (lacing), the OpusHead and OpusTags headers
/// skipped.
pub fn read_ogg_opus(data: &[u8]) -> Result<Vec<AudioPacket>> {
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        ensure!(
            data.len() >= pos + 27 && &data[pos..pos + 4] == b"OggS",
            "bad Ogg page at {pos}"
        );
        let segments = usize::from(data[pos + 26]);
        let table_end = pos + 27 + segments;
        ensure!(table_end <= data.len(), "Ogg segment table past the end");
        let mut body = table_end;
        for &lace in &data[pos + 27..table_end] {
            let lace = usize::from(lace);
            ensure!(body + lace <= data.len(), "Ogg segment past the end");
            partial.extend_from_slice(&data[body..body + lace]);
            body += lace;
            if lace < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        pos = body;
    }
    let mut out = Vec::with_capacity(packets.len());
    for packet in packets {
        if packet.starts_with(b"OpusHead") || packet.starts_with(b"OpusTags") || packet.is_empty() {
            continue;
        }
        let samples = opus_samples(&packet).context("bad Opus TOC")?;
        out.push(AudioPacket {
            data: Bytes::from(packet),
            samples,
        });
    }
    Ok(out)
}

/// Duration of an Opus packet in 48 kHz samples, from its TOC byte (RFC 6716 §3.1).
pub fn opus_samples(packet: &[u8]) -> Result<u32> {
    let toc = *packet.first().context("empty packet")?;
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let count = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1).context("code 3 packet without count")? & 0x3f),
    };
    Ok(frame * count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ivf_frames_are_read_with_keyframe_flags() {
        let mut file = b"DKIF".to_vec();
        file.extend_from_slice(&0u16.to_le_bytes());
        file.extend_from_slice(&32u16.to_le_bytes());
        file.extend_from_slice(b"VP80");
        file.resize(32, 0);
        for (i, frame) in [&[0x10u8, 1, 2][..], &[0x11, 9]].iter().enumerate() {
            file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            file.extend_from_slice(&(i as u64).to_le_bytes());
            file.extend_from_slice(frame);
        }
        let frames = read_ivf(&file).expect("parse");
        assert_eq!(frames.len(), 2);
        assert!(frames[0].keyframe);
        assert!(!frames[1].keyframe);
        assert_eq!(&frames[1].data[..], &[0x11, 9]);
    }

    #[test]
    fn ogg_packets_span_segments_and_headers_are_skipped() {
        let page = |segments: &[u8], body: &[u8]| {
            let mut p = b"OggS".to_vec();
            p.resize(26, 0);
            p.push(segments.len() as u8);
            p.extend_from_slice(segments);
            p.extend_from_slice(body);
            p
        };
        let mut file = page(&[8], b"OpusHead");
        file.extend(page(&[8], b"OpusTags"));
        // A 300-byte packet (lacing 255 + 45) and a 3-byte one.
        let mut big = vec![0x08u8]; // config 1 (SILK NB 20 ms), one frame
        big.resize(300, 7);
        let mut body = big.clone();
        body.extend_from_slice(&[0x0b, 1, 2]); // config 1, code 3
        file.extend(page(&[255, 45, 3], &body));
        let packets = read_ogg_opus(&file).expect("parse");
        assert_eq!(packets.len(), 2);
        assert_eq!(packets[0].data.len(), 300);
        assert_eq!(packets[0].samples, 960);
        assert_eq!(packets[1].samples, 960);
    }

    #[test]
    fn opus_toc_durations() {
        assert_eq!(opus_samples(&[0xf8]).unwrap(), 960); // CELT FB 20 ms
        assert_eq!(opus_samples(&[0xf9]).unwrap(), 1920); // two frames
        assert_eq!(opus_samples(&[0x70]).unwrap(), 480); // hybrid FB 10 ms
        assert_eq!(opus_samples(&[0xfb, 0x03]).unwrap(), 2880);
    }
}

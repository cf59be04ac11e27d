//! The composite: one playable file per recording, participants side by side and all audio
//! mixed (a shared screen large, with the cameras in a strip under it, as the room shows it),
//! made from the as-captured files by Debian's `ffmpeg` after the recording ends, at the
//! lowest CPU priority so live sessions are not disturbed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::error::Error;

/// Each participant's tile.
const TILE: (u32, u32) = (640, 360);
/// Where a screen was shared: the screen's stage at least this wide (16:9), and each camera's
/// tile in the strip under it.
const STAGE_WIDTH: u32 = 1280;
const STRIP_TILE: (u32, u32) = (320, 180);
/// Enough for a case file; keeps the post-processing cheap.
const FRAME_RATE: u32 = 15;
/// The longest composite made: a session longer than a working day is not a session, and no
/// file's claims about its length make ffmpeg write past it.
const LONGEST: Duration = Duration::from_secs(12 * 3600);
/// ffmpeg is stopped if it takes longer than this many times the composite's length, plus a
/// minute: encoding at the lowest priority on a busy server is slow, but never that slow.
const TIME_LIMIT_FACTOR: u32 = 4;
const TIME_LIMIT_EXTRA: Duration = Duration::from_secs(60);
/// How much of ffmpeg's complaints a failure keeps: the end, where it says why it stopped.
const STDERR_KEPT: usize = 4000;

/// One as-captured file and where it sits on the session clock.
#[derive(Debug, Clone)]
pub struct CompositeInput {
    pub path: PathBuf,
    /// Whose file it is: the parts of one participant's recording (split when their
    /// connection was replaced, or their camera came on) share one tile.
    pub participant: String,
    /// When the file starts, relative to the earliest file.
    pub offset: Duration,
    pub duration: Duration,
    pub has_video: bool,
    pub has_audio: bool,
    /// A shared screen, not a camera: shown large. Shares come one at a time, so every
    /// screen file goes on the one stage, whoever shared it.
    pub shared_screen: bool,
}

/// How long the composite of `inputs` runs: to the end of the last file, and no longer than
/// [`LONGEST`].
pub fn composite_length(inputs: &[CompositeInput]) -> Duration {
    inputs
        .iter()
        .map(|i| i.offset + i.duration)
        .max()
        .unwrap_or_default()
        .min(LONGEST)
}

/// The participants' cameras in the order their first file appears in `inputs`: one tile
/// each.
fn tiles(inputs: &[CompositeInput]) -> Vec<&str> {
    let mut tiles: Vec<&str> = Vec::new();
    for input in inputs.iter().filter(|input| !input.shared_screen) {
        if !tiles.contains(&input.participant.as_str()) {
            tiles.push(&input.participant);
        }
    }
    tiles
}

/// Adds to `filter` a black picture of `size` as long as the composite, with the video of each
/// of `parts` (indices into the inputs) laid over it, fitted, from the moment its file starts;
/// returns the label of the result.
fn tile(
    filter: &mut String,
    label: &str,
    parts: impl Iterator<Item = (usize, Duration)>,
    (width, height): (u32, u32),
    length: f64,
) -> String {
    filter.push_str(&format!(
        "color=c=black:s={width}x{height}:r={FRAME_RATE}:d={length:.3},setsar=1[{label}_0];"
    ));
    let mut laid = 0;
    for (i, offset) in parts {
        let at = offset.as_secs_f64();
        filter.push_str(&format!(
            "[{i}:v]scale={width}:{height}:force_original_aspect_ratio=decrease,\
             pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,setpts=PTS+{at:.3}/TB[{label}_in{i}];\
             [{label}_{laid}][{label}_in{i}]overlay=eof_action=pass[{label}_{next}];",
            next = laid + 1
        ));
        laid += 1;
    }
    format!("[{label}_{laid}]")
}

/// Adds to `filter` the cameras' tiles of `size` side by side; returns the label of the row
/// (none without cameras).
fn cameras(
    filter: &mut String,
    inputs: &[CompositeInput],
    size: (u32, u32),
    length: f64,
) -> Option<String> {
    let tiles = tiles(inputs);
    let labels: Vec<String> = tiles
        .iter()
        .enumerate()
        .map(|(t, participant)| {
            let parts = inputs.iter().enumerate().filter(|(_, input)| {
                !input.shared_screen && input.participant == *participant && input.has_video
            });
            let parts = parts.map(|(i, input)| (i, input.offset));
            tile(filter, &format!("tile{t}"), parts, size, length)
        })
        .collect();
    match labels.len() {
        0 => None,
        1 => Some(labels.concat()),
        n => {
            filter.push_str(&format!("{}hstack=inputs={n}[cameras];", labels.concat()));
            Some("[cameras]".to_owned())
        }
    }
}

/// The ffmpeg arguments (after the program name) for `inputs` into `output`.
///
/// Each participant's tile is a black picture as long as the composite, with each of their
/// files laid over it from the moment that file starts: a participant whose camera is off
/// stays a black tile (their voice is still mixed), one who dropped out and came back
/// continues in the same place. Where a screen was shared, its files go on one large stage
/// (black while nothing is shared) above a strip of smaller camera tiles. Audio is placed by
/// its timestamps, so a gap inside a file stays a silence of the same length instead of
/// pulling what follows forward.
pub fn ffmpeg_args(inputs: &[CompositeInput], output: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["-nostdin", "-v", "error", "-progress", "pipe:1", "-nostats"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for input in inputs {
        args.push("-i".to_owned());
        args.push(input.path.display().to_string());
    }
    let length = composite_length(inputs).as_secs_f64();
    let mut filter = String::new();
    let screens: Vec<(usize, Duration)> = inputs
        .iter()
        .enumerate()
        .filter(|(_, input)| input.shared_screen && input.has_video)
        .map(|(i, input)| (i, input.offset))
        .collect();
    // Overlaying leaves an alpha plane the VP8 encoder refuses: plain 4:2:0 out.
    if screens.is_empty() {
        let row = cameras(&mut filter, inputs, TILE, length);
        // No video at all still makes a picture: one black tile.
        let row =
            row.unwrap_or_else(|| tile(&mut filter, "tile0", std::iter::empty(), TILE, length));
        filter.push_str(&format!("{row}format=yuv420p[v];"));
    } else {
        let (strip_width, strip_height) = STRIP_TILE;
        let strip = cameras(&mut filter, inputs, STRIP_TILE, length);
        let camera_count = tiles(inputs).len() as u32;
        let width = STAGE_WIDTH.max(strip_width * camera_count);
        // Even, as 4:2:0 wants.
        let height = (width * 9 / 16) & !1;
        let stage = tile(
            &mut filter,
            "stage",
            screens.into_iter(),
            (width, height),
            length,
        );
        match strip {
            Some(strip) => filter.push_str(&format!(
                "{strip}pad={width}:{strip_height}:(ow-iw)/2:0[strip];\
                 {stage}[strip]vstack=inputs=2,format=yuv420p[v];"
            )),
            None => filter.push_str(&format!("{stage}format=yuv420p[v];")),
        }
    }
    // Silence as long as the composite: the mix has a sound track even if nobody spoke.
    filter.push_str(&format!(
        "anullsrc=r=48000:cl=stereo:d={length:.3}[silence];"
    ));
    let mut voices = vec!["[silence]".to_owned()];
    for (i, input) in inputs.iter().enumerate().filter(|(_, i)| i.has_audio) {
        let delay_ms = input.offset.as_millis();
        filter.push_str(&format!(
            "[{i}:a]aresample=48000:async=1,adelay={delay_ms}:all=1[voice{i}];"
        ));
        voices.push(format!("[voice{i}]"));
    }
    // libopus takes frames of at most 20 ms; the mix follows its inputs' frame sizes (the
    // silence comes in 1024 samples), which ffmpeg 5.1 passes on unchanged.
    filter.push_str(&format!(
        "{}amix=inputs={}:duration=longest:normalize=0,asetnsamples=n=960:p=0[a]",
        voices.concat(),
        voices.len()
    ));
    args.extend(
        [
            "-filter_complex",
            &filter,
            "-map",
            "[v]",
            "-map",
            "[a]",
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "1M",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    // Mixing would otherwise go on as long as any input claims to.
    args.push("-t".to_owned());
    args.push(format!("{length:.3}"));
    args.push(output.display().to_string());
    args
}

/// Runs ffmpeg at the lowest priority; `progress` gets the fraction done (0.0 to 1.0) as it
/// goes. The output is created new: an existing file is an error, never overwritten.
pub async fn compose(
    inputs: &[CompositeInput],
    output: &Path,
    progress: impl FnMut(f64),
) -> Result<(), Error> {
    if inputs.is_empty() {
        return Err(Error::Invalid("a composite needs at least one file".into()));
    }
    if output.exists() {
        return Err(Error::AlreadyExists {
            path: output.to_owned(),
        });
    }
    let composed = run_ffmpeg(inputs, output, progress).await;
    if composed.is_err() {
        // What a failed or stopped ffmpeg wrote is no composite: left on disk, it would lie
        // there unfiled.
        let _ = tokio::fs::remove_file(output).await;
    }
    composed
}

async fn run_ffmpeg(
    inputs: &[CompositeInput],
    output: &Path,
    mut progress: impl FnMut(f64),
) -> Result<(), Error> {
    let length = composite_length(inputs);
    let total = length.as_secs_f64().max(0.001);
    let time_limit = length * TIME_LIMIT_FACTOR + TIME_LIMIT_EXTRA;
    let mut command = Command::new("nice");
    command
        .args(["-n", "19", "ffmpeg"])
        .args(ffmpeg_args(inputs, output))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    die_with_parent(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| Error::Invalid(format!("cannot run ffmpeg (install Debian's ffmpeg): {e}")))?;
    let stderr = child.stderr.take();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        if let Some(stderr) = stderr {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
                // The last lines say why ffmpeg stopped; decoding complaints come before them.
                if text.len() > 2 * STDERR_KEPT {
                    let cut = text.len() - STDERR_KEPT;
                    let cut = (cut..text.len())
                        .find(|&i| text.is_char_boundary(i))
                        .unwrap_or(cut);
                    text.drain(..cut);
                }
            }
        }
        let cut = text.len().saturating_sub(STDERR_KEPT);
        let cut = (cut..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.split_off(cut)
    });
    let stdout = child.stdout.take();
    let run = async {
        if let Some(stdout) = stdout {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // `out_time_us` is microseconds of output written so far.
                if let Some(us) = line.strip_prefix("out_time_us=") {
                    if let Ok(us) = us.trim().parse::<f64>() {
                        progress((us / 1e6 / total).clamp(0.0, 1.0));
                    }
                }
            }
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(time_limit, run).await {
        Ok(status) => status.map_err(|e| Error::Invalid(format!("ffmpeg did not finish: {e}")))?,
        Err(_) => {
            let _ = child.kill().await;
            return Err(Error::Invalid(format!(
                "ffmpeg took longer than {} s; stopped",
                time_limit.as_secs()
            )));
        }
    };
    let errors = errors.await.unwrap_or_default();
    if !status.success() {
        return Err(Error::Invalid(format!(
            "ffmpeg failed ({status}): {}",
            errors.trim()
        )));
    }
    progress(1.0);
    Ok(())
}

/// ffmpeg must not outlive a server killed with -9: it would go on writing a composite that the
/// restart has already marked interrupted and removed. `kill_on_drop` covers every other exit;
/// for this one the kernel's parent-death signal does it. That signal follows the thread that
/// spawned the child, here a runtime worker, which lives as long as the server.
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would signal us.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(participant: &str, offset_ms: u64, secs: u64) -> CompositeInput {
        CompositeInput {
            path: format!("{participant}-{offset_ms}.webm").into(),
            participant: participant.to_owned(),
            offset: Duration::from_millis(offset_ms),
            duration: Duration::from_secs(secs),
            has_video: true,
            has_audio: true,
            shared_screen: false,
        }
    }

    fn filter_of(args: &[String]) -> &str {
        let at = args.iter().position(|a| a == "-filter_complex");
        &args[at.expect("a filter graph") + 1]
    }

    #[test]
    fn inputs_are_aligned_by_their_offsets_and_mixed() {
        let inputs = [input("a", 0, 10), input("b", 1500, 8)];
        let args = ffmpeg_args(&inputs, Path::new("out.webm"));
        let filter = filter_of(&args);
        assert!(filter.contains("setpts=PTS+1.500/TB"), "{filter}");
        assert!(filter.contains("adelay=1500:all=1"), "{filter}");
        assert!(filter.contains("aresample=48000:async=1"), "{filter}");
        assert!(filter.contains("hstack=inputs=2"), "{filter}");
        assert!(filter.contains("amix=inputs=3"), "{filter}");
        assert_eq!(args.last().map(String::as_str), Some("out.webm"));
    }

    #[test]
    fn the_parts_of_one_participant_share_a_tile_and_voiceless_files_are_not_mixed() {
        let mut camera_off = input("c", 0, 12);
        camera_off.has_video = false;
        let mut muted = input("a", 9000, 3);
        muted.has_audio = false;
        let inputs = [input("a", 0, 4), input("b", 0, 12), muted, camera_off];
        let args = ffmpeg_args(&inputs, Path::new("out.webm"));
        let filter = filter_of(&args);
        assert!(filter.contains("[tile0_1][tile0_in2]overlay"), "{filter}");
        assert!(
            filter.contains("[tile0_2][tile1_1][tile2_0]hstack=inputs=3"),
            "{filter}"
        );
        assert!(!filter.contains("[2:a]"), "{filter}");
        assert!(filter.contains("[3:a]"), "{filter}");
        assert!(!filter.contains("[3:v]"), "{filter}");
        let length = args.iter().position(|a| a == "-t").map(|at| &args[at + 1]);
        assert_eq!(length.map(String::as_str), Some("12.000"));
    }

    #[test]
    fn a_shared_screen_goes_large_over_a_strip_of_the_cameras() {
        let screen = |sharer: &str, offset_ms| CompositeInput {
            shared_screen: true,
            has_audio: false,
            ..input(sharer, offset_ms, 5)
        };
        // Two shares, one after the other by two people, on the one stage.
        let inputs = [
            input("a", 0, 20),
            input("b", 0, 20),
            screen("a", 2_000),
            input("c", 0, 20),
            screen("b", 9_000),
        ];
        let args = ffmpeg_args(&inputs, Path::new("out.webm"));
        let filter = filter_of(&args);
        assert!(
            filter.contains("color=c=black:s=1280x720:r=15:d=20.000,setsar=1[stage_0]"),
            "{filter}"
        );
        assert!(filter.contains("[2:v]scale=1280:720"), "{filter}");
        assert!(filter.contains("[stage_0][stage_in2]overlay"), "{filter}");
        assert!(filter.contains("[stage_1][stage_in4]overlay"), "{filter}");
        assert!(filter.contains("[0:v]scale=320:180"), "{filter}");
        assert!(
            filter.contains("[tile0_1][tile1_1][tile2_1]hstack=inputs=3[cameras]"),
            "{filter}"
        );
        assert!(
            filter.contains("[cameras]pad=1280:180:(ow-iw)/2:0[strip]"),
            "{filter}"
        );
        assert!(
            filter.contains("[stage_2][strip]vstack=inputs=2,format=yuv420p[v]"),
            "{filter}"
        );
        assert!(!filter.contains("[2:a]"), "a screen has no voice: {filter}");

        // Five cameras are wider than the stage's least: the stage widens with them.
        let many: Vec<_> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|who| input(who, 0, 10))
            .chain([screen("a", 0)])
            .collect();
        let filter = filter_of(&ffmpeg_args(&many, Path::new("out.webm"))).to_owned();
        assert!(filter.contains("s=1600x900"), "{filter}");
        assert!(filter.contains("pad=1600:180"), "{filter}");
    }
}

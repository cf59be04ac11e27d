//! The composite: one playable file per recording, participants side by side and all audio
//! mixed, made from the as-captured files by Debian's `ffmpeg` after the recording ends, at the
//! lowest CPU priority so live sessions are not disturbed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::error::Error;

/// Each participant's tile.
const TILE: (u32, u32) = (640, 360);
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

/// The participants in the order their first file appears in `inputs`: one tile each.
fn tiles(inputs: &[CompositeInput]) -> Vec<&str> {
    let mut tiles: Vec<&str> = Vec::new();
    for input in inputs {
        if !tiles.contains(&input.participant.as_str()) {
            tiles.push(&input.participant);
        }
    }
    tiles
}

/// The ffmpeg arguments (after the program name) for `inputs` into `output`.
///
/// Each participant's tile is a black picture as long as the composite, with each of their
/// files laid over it from the moment that file starts: a participant whose camera is off
/// stays a black tile (their voice is still mixed), one who dropped out and came back
/// continues in the same place. Audio is placed by its timestamps, so a gap inside a file
/// stays a silence of the same length instead of pulling what follows forward.
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
    let (width, height) = TILE;
    let tiles = tiles(inputs);
    let mut filter = String::new();
    for (t, participant) in tiles.iter().enumerate() {
        filter.push_str(&format!(
            "color=c=black:s={width}x{height}:r={FRAME_RATE}:d={length:.3},setsar=1[tile{t}_0];"
        ));
        let parts = inputs
            .iter()
            .enumerate()
            .filter(|(_, input)| input.participant == *participant && input.has_video);
        for (k, (i, input)) in parts.enumerate() {
            let at = input.offset.as_secs_f64();
            filter.push_str(&format!(
                "[{i}:v]scale={width}:{height}:force_original_aspect_ratio=decrease,\
                 pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,setpts=PTS+{at:.3}/TB[part{i}];\
                 [tile{t}_{k}][part{i}]overlay=eof_action=pass[tile{t}_{next}];",
                next = k + 1
            ));
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
    let last_of_tile = |t: usize| {
        let parts = inputs
            .iter()
            .filter(|input| input.participant == tiles[t] && input.has_video)
            .count();
        format!("[tile{t}_{parts}]")
    };
    let videos: String = (0..tiles.len()).map(last_of_tile).collect();
    // Overlaying leaves an alpha plane the VP8 encoder refuses: plain 4:2:0 out.
    match tiles.len() {
        1 => filter.push_str(&format!("{videos}format=yuv420p[v];")),
        n => filter.push_str(&format!("{videos}hstack=inputs={n},format=yuv420p[v];")),
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
        assert!(filter.contains("[tile0_1][part2]overlay"), "{filter}");
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
}

//! How long a recording that was never finished lasts. libwebm writes the segment's Duration
//! only when it finalizes, so a file cut short by a crash declares a placeholder; its packets
//! say how far it got. Read by ffprobe (Debian's ffmpeg, already needed for the composite), a
//! real Matroska reader: nothing here parses the container, and the file is only read.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::Error;

/// Time from the first to the last packet of any track, as [`crate::Summary::duration`]
/// counts it for a finished file; `None` when the file holds no packet. Blocking: it reads
/// the whole file.
pub fn recorded_duration(path: &Path) -> Result<Option<Duration>, Error> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .map_err(|e| Error::Probe(format!("cannot run ffprobe (install Debian's ffmpeg): {e}")))?;
    // A truncated file ends mid-element: ffprobe says so on stderr but still lists every
    // packet before the cut, which is what is wanted. Only a file it cannot open fails.
    if !output.status.success() {
        return Err(Error::Probe(format!(
            "ffprobe cannot read {}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let times = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().trim_end_matches(',').parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t >= 0.0)
        .fold(None, |range: Option<(f64, f64)>, t| {
            Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))))
        });
    Ok(times.map(|(first, last)| Duration::from_secs_f64(last - first)))
}

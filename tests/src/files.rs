//! Files the tests make and check: a real photo, and SHA-256 computed apart from the server.

use std::path::Path;
use std::process::Command;

use crate::recordings::sha256_of;

/// Draws a 64x48 PNG test picture at `path` with ffmpeg: a real photo's bytes.
pub fn draw_test_photo(path: &Path) {
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48",
        ])
        .args(["-frames:v", "1"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg draws a PNG at {}", path.display());
}

/// The SHA-256 of `bytes`, by `sha256sum`.
pub fn sha256_of_bytes(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("hashed");
    std::fs::write(&path, bytes).expect("write the bytes");
    sha256_of(&path)
}

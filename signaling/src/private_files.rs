//! What the server keeps on disk is private: the database (names, phone numbers, case records),
//! the TLS key, and recordings (faces and voices). Whatever the umask the server was started
//! with, everything it creates (ffmpeg's composites included) is readable by its own user only:
//! directories 0700, files 0600.

use std::io;
use std::path::Path;

use rustix::fs::Mode;

/// From now on, files and directories this process (and its children) create are private.
pub fn restrict_new_files() {
    rustix::process::umask(Mode::from_raw_mode(0o077));
}

/// Creates `dir` if needed and makes it private, also if it existed with wider permissions.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

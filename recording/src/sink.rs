//! The file under the muxer. Created with `create_new` so an existing recording (an
//! interrupted one from before a restart, say) can never be truncated or reopened.
//!
//! Writes are deliberately unbuffered (see `cpp/mkv.cc`): libwebm hands over each element in a
//! few small writes, and any user-space buffer is exactly what `kill -9` would lose. A handful
//! of syscalls per frame is cheap next to encoding it; durability against power loss comes
//! from periodic `sync_data` on a second handle (see `SYNC_INTERVAL`).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use crate::Error;

/// Creates the file, failing with [`Error::AlreadyExists`] if anything is there.
/// Returns the handle the muxer writes through and one for syncing.
pub fn create_new(path: &Path) -> Result<(File, File), Error> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::AlreadyExists {
                path: path.to_path_buf(),
            },
            _ => Error::io(path, e),
        })?;
    let sync = file.try_clone().map_err(|e| Error::io(path, e))?;
    Ok((file, sync))
}

//! The file under the muxer. Created with `create_new` so an existing recording (an
//! interrupted one from before a restart, say) can never be truncated or reopened.
//!
//! Writes are deliberately unbuffered: libwebm hands over each element in a few small
//! writes, and any user-space buffer is exactly what `kill -9` would lose. A handful
//! of syscalls per frame is cheap next to encoding it; durability against power loss
//! comes from periodic `sync_data` on a second handle (see `SYNC_INTERVAL`).

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

use crate::Error;

pub struct FileSink {
    file: File,
}

/// Creates the file, failing with [`Error::AlreadyExists`] if anything is there.
/// Returns the sink for the muxer and a handle for syncing.
pub fn create_new(path: &Path) -> Result<(FileSink, File), Error> {
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
    Ok((FileSink { file }, sync))
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// libwebm seeks back to fill in sizes (each cluster's when the next starts, the
/// segment's, cues and duration at the end); a seekable sink is what makes the
/// finished file seekable.
impl Seek for FileSink {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

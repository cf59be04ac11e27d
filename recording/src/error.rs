//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// What can go wrong while recording. A writer that returned [`Error::Io`] or
/// [`Error::Muxer`] from `push` is poisoned: later calls return [`Error::Poisoned`],
/// because libwebm's state after a failed write is unknown and the file must not get
/// half-written elements appended to it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target path exists. Recordings are created new and never overwritten or
    /// reopened, so an interrupted recording survives a restart untouched.
    #[error("{}: already exists; recordings are never overwritten", path.display())]
    AlreadyExists { path: PathBuf },

    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// libwebm refused an operation (`what` says which); I/O failures are [`Error::Io`].
    #[error("muxer (libwebm) failed to {what}")]
    Muxer { what: &'static str },

    /// A codec or layout this crate cannot write (e.g. Opus with more than two channels).
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A frame or configuration that contradicts the writer's setup (e.g. a video frame
    /// for a writer configured without video).
    #[error("invalid input: {0}")]
    Invalid(String),

    /// Reading a finished or interrupted file with ffprobe failed.
    #[error("{0}")]
    Probe(String),

    #[error("writer is unusable after an earlier I/O or muxer error")]
    Poisoned,
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

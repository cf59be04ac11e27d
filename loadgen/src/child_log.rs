//! The log of a server the generator started as a child process: copied line by line from its
//! pipe into a file (so a long run's log never fills the pipe), watched for the line that
//! says where it serves, and quoted from its end when something fails.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

/// Lines of a server's log quoted when it fails.
const LOG_TAIL: usize = 25;

/// Copies `stream` line by line into `path`; the returned receiver gets the first value `pick`
/// finds. The copy goes on after that, until the stream ends.
pub(crate) fn copy_log_until<R>(
    stream: R,
    path: &Path,
    pick: impl Fn(&str) -> Option<String> + Send + 'static,
) -> oneshot::Receiver<String>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let path = path.to_owned();
    tokio::spawn(async move {
        let Ok(mut file) = tokio::fs::File::create(&path).await else {
            return;
        };
        let mut tx = Some(tx);
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(found) = tx.is_some().then(|| pick(&line)).flatten() {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(found);
                }
            }
            let _ = file.write_all(line.as_bytes()).await;
            let _ = file.write_all(b"\n").await;
        }
    });
    rx
}

/// The last lines of the log at `path` (empty if it cannot be read).
pub(crate) fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
}

//! Concord started as a child process for a load run (the comparison's server, the soak's):
//! the settings every such run needs, its standard error copied to a log, and the wait for the
//! line that says where it serves.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::process::{Child, Command};

use crate::child_log::{copy_log_until, tail};

/// The recording notice, seconds (the default is 5): a recorded run waits this long from asking
/// to recording.
const NOTICE_SECS: &str = "1";
/// The line on the server's standard error that says where it serves.
const SERVING_AT: &str = "Concord is serving at ";

/// A Concord child process that has said where it serves.
pub(crate) struct ServingConcord {
    /// Killed when dropped.
    pub child: Child,
    pub pid: u32,
    /// Its HTTP base URL, without a trailing `/`.
    pub url: String,
}

/// Spawns `command` (a Concord server, told already where to listen and keep its data) with
/// `password` for its admin account, copies its standard error into `log`, and returns once it
/// says where it serves. `name` names it in errors; `start_timeout` bounds the wait.
pub(crate) async fn spawn_until_serving(
    command: &mut Command,
    name: &str,
    password: &str,
    log: &Path,
    start_timeout: Duration,
) -> Result<ServingConcord> {
    let program = Path::new(command.as_std().get_program()).to_owned();
    let mut child = command
        .env("CONCORD_ADMIN_PASSWORD", password)
        .env("CONCORD_RECORDING__NOTICE_SECS", NOTICE_SECS)
        // Every simulated participant comes from the load generator's one address.
        .env("CONCORD_SIGNALING__MAX_CONNECTIONS_PER_ADDRESS", "10000")
        // A long run's log at `info` would mostly be joins and leaves.
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id().ok_or_else(|| anyhow!("{name} exited at once"))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow!("no stderr pipe"))?;
    let url = copy_log_until(stderr, log, |line| {
        line.strip_prefix(SERVING_AT)
            .map(|url| url.trim().trim_end_matches('/').to_owned())
    });
    let url = match tokio::time::timeout(start_timeout, url).await {
        Ok(Ok(url)) => url,
        _ => bail!(
            "{name} did not start within {start_timeout:?}; its log ends with:\n{}",
            tail(log)
        ),
    };
    Ok(ServingConcord { child, pid, url })
}

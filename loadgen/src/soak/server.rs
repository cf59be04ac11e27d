//! The server under soak as a process of its own, so that the memory, threads and descriptors
//! sampled are the server's alone: started with a fresh data directory in a scratch directory
//! (with its log), configured through `CONCORD_*` variables, and stopped gracefully at the end.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

use crate::child_log::tail;
use crate::concord_process::{spawn_until_serving, ServingConcord};

/// How long the server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A program that runs Concord from its `CONCORD_*` environment and writes
/// `Concord is serving at {url}` on its standard error: `concord serve`, or a test binary
/// running the server in a child process.
#[derive(Debug, Clone)]
pub struct ServerLaunch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl ServerLaunch {
    /// `concord serve` with the binary at `concord`.
    pub fn concord_serve(concord: PathBuf) -> Self {
        ServerLaunch {
            program: concord,
            args: vec!["serve".into()],
        }
    }
}

/// The running server.
pub(super) struct ServerProcess {
    pub pid: u32,
    pub url: String,
    pub password: String,
    pub data_dir: PathBuf,
    child: Child,
    log: PathBuf,
    scratch: tempfile::TempDir,
}

impl ServerProcess {
    pub(super) async fn start(launch: &ServerLaunch) -> Result<ServerProcess> {
        let scratch = tempfile::Builder::new()
            .prefix("concord-soak-")
            .tempdir()
            .context("a scratch directory for the server")?;
        let data_dir = scratch.path().join("data");
        let log = scratch.path().join("concord.log");
        let password = format!("soak-{:016x}", rand::random::<u64>());
        let mut command = Command::new(&launch.program);
        command.args(&launch.args);
        // Only the settings below and `spawn_until_serving`'s: a CONCORD_* variable of the
        // caller's (a database URL, a recordings directory) would point the soak elsewhere.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CONCORD_") {
                command.env_remove(name);
            }
        }
        command
            .env("CONCORD_DATA_DIR", &data_dir)
            .env("CONCORD_LISTEN", "127.0.0.1:0")
            .env("CONCORD_MEDIA__BIND", "127.0.0.1:0");
        let name = launch.program.display().to_string();
        let ServingConcord { child, pid, url } =
            spawn_until_serving(&mut command, &name, &password, &log, START_TIMEOUT).await?;
        if !url.starts_with("http://127.") {
            bail!("the server must serve on 127.0.0.0/8, it serves at {url}");
        }
        Ok(ServerProcess {
            pid,
            url,
            password,
            data_dir,
            child,
            log,
            scratch,
        })
    }

    /// Why the server is no longer running, if it is not.
    pub(super) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "the server exited during the run ({status}); its log ends with:\n{}",
                self.log_tail()
            )),
            Ok(None) => None,
            Err(err) => Some(format!("the server's state is unknown: {err}")),
        }
    }

    pub(super) fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Stops the server with SIGTERM (its graceful shutdown), killing it if that takes longer
    /// than [`STOP_TIMEOUT`].
    pub(super) async fn stop(&mut self) -> Result<ExitStatus> {
        if let Some(why) = self.exited() {
            bail!(why);
        }
        let pid = libc::pid_t::try_from(self.pid).context("the server's pid")?;
        // SAFETY: kill(2) takes any pid and signal number and touches no memory of ours; the
        // pid is our own child's, not yet reaped (try_wait above), so it names no other process.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        if sent != 0 {
            bail!(
                "could not signal the server: {}",
                std::io::Error::last_os_error()
            );
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => status.context("waiting for the server to stop"),
            Err(_) => {
                self.child.kill().await.context("killing the server")?;
                bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed")
            }
        }
    }

    /// Keeps the scratch directory (data, database, recordings, log) for a look afterwards,
    /// and returns where it is.
    pub(super) fn keep_scratch(self) -> PathBuf {
        self.scratch.keep()
    }

    pub(super) fn scratch(&self) -> &Path {
        self.scratch.path()
    }
}

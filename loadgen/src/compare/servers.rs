//! Starting and stopping the servers under comparison as child processes, each with its own
//! scratch directory (data, generated configuration, log), and an adapter to drive it.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::process::{Child, Command};

use concord_client::{ConcordAdapter, JanusAdapter, SfuAdapter};

use super::janus_config::JanusConfig;
use crate::child_log::{copy_log_until, tail};

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Concord's recording notice in the comparison, seconds (its default is 5): the recorded run
/// waits this long for recording to start, before the window.
const CONCORD_NOTICE_SECS: &str = "1";

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Concord,
    Janus,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Concord => "concord",
            ServerKind::Janus => "janus",
        }
    }
}

/// How to start each server.
#[derive(Debug, Clone)]
pub struct ServerSetup {
    pub concord_bin: PathBuf,
    pub janus_bin: PathBuf,
    pub janus_lib_dir: PathBuf,
    /// The address both servers use for media (on `ice_interface`).
    pub media_ip: IpAddr,
    /// The interface Janus's ICE is restricted to.
    pub ice_interface: String,
}

/// A running server: killed when dropped.
pub struct Server {
    pub kind: ServerKind,
    pub pid: u32,
    /// Where it answers: Concord's HTTP base URL, Janus's WebSocket URL.
    pub url: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `kind` and returns it with an adapter signed in / connected to it.
    pub async fn start(
        kind: ServerKind,
        setup: &ServerSetup,
    ) -> Result<(Server, Box<dyn SfuAdapter>)> {
        match kind {
            ServerKind::Concord => Server::start_concord(&setup.concord_bin, setup.media_ip).await,
            ServerKind::Janus => start_janus(setup).await,
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Stops the server (SIGKILL: nothing of its state is kept) and reports an earlier exit.
    pub async fn stop(mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "{} exited during the run ({status}); its log ends with:\n{}",
                self.kind.name(),
                self.log_tail()
            );
        }
        self.child
            .kill()
            .await
            .with_context(|| format!("stopping {} (pid {})", self.kind.name(), self.pid))
    }
}

impl Server {
    /// Starts `concord_bin` with its media (UDP and the ICE-TCP port) on `media_ip`, and
    /// returns it with an adapter signed in as its admin.
    pub async fn start_concord(
        concord_bin: &Path,
        media_ip: IpAddr,
    ) -> Result<(Server, Box<dyn SfuAdapter>)> {
        start_concord(concord_bin, media_ip).await
    }
}

async fn start_concord(
    concord_bin: &Path,
    media_ip: IpAddr,
) -> Result<(Server, Box<dyn SfuAdapter>)> {
    let dir = scratch("concord")?;
    let password = format!("bench-{:016x}", rand::random::<u64>());
    let log = dir.path().join("concord.log");
    let mut child = Command::new(concord_bin)
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--media-bind")
        .arg(format!("{media_ip}:0"))
        .env("CONCORD_ADMIN_PASSWORD", &password)
        .env("CONCORD_RECORDING__NOTICE_SECS", CONCORD_NOTICE_SECS)
        // Every simulated participant comes from the load generator's one address.
        .env("CONCORD_SIGNALING__MAX_CONNECTIONS_PER_ADDRESS", "10000")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", concord_bin.display()))?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow!("concord exited at once"))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow!("no stderr pipe"))?;
    let url = copy_log_until(stderr, &log, |line| {
        line.strip_prefix("Concord is serving at ")
            .map(|url| url.trim().trim_end_matches('/').to_owned())
    });
    let mut server = Server {
        kind: ServerKind::Concord,
        pid,
        url: String::new(),
        child,
        log,
        _dir: dir,
    };
    let url = match tokio::time::timeout(START_TIMEOUT, url).await {
        Ok(Ok(url)) => url,
        _ => bail!(
            "concord did not start within {START_TIMEOUT:?}; its log ends with:\n{}",
            server.log_tail()
        ),
    };
    server.url.clone_from(&url);
    let adapter = ConcordAdapter::sign_in(&url, "admin", &password)
        .await
        .with_context(|| format!("signing in to concord at {url}"))?;
    Ok((server, Box::new(adapter)))
}

async fn start_janus(setup: &ServerSetup) -> Result<(Server, Box<dyn SfuAdapter>)> {
    let dir = scratch("janus")?;
    let ws_port = free_port()?;
    let config = JanusConfig {
        lib_dir: setup.janus_lib_dir.clone(),
        ws_port,
        ice_interface: setup.ice_interface.clone(),
        media_ip: setup.media_ip,
        debug_level: 4,
    };
    let main = config.write(dir.path())?;
    let log = dir.path().join("janus.log");
    let log_file = std::fs::File::create(&log).context("creating Janus's log")?;
    let log_err = log_file.try_clone().context("sharing Janus's log")?;
    let mut child = Command::new(&setup.janus_bin)
        .arg("-C")
        .arg(&main)
        .arg("-F")
        .arg(dir.path().join("conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(log_err))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (apt-get install janus)",
                setup.janus_bin.display()
            )
        })?;
    let pid = child.id().ok_or_else(|| anyhow!("janus exited at once"))?;
    let ws_url = format!("ws://127.0.0.1:{ws_port}");
    // Janus writes no single "ready" line worth trusting: ask its API until it answers.
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let adapter = loop {
        if let Ok(Some(status)) = child.try_wait() {
            bail!(
                "janus exited at start ({status}); its log ends with:\n{}",
                tail(&log)
            );
        }
        match JanusAdapter::connect(&ws_url).await {
            Ok(adapter) => break adapter,
            Err(err) if tokio::time::Instant::now() >= deadline => {
                bail!(
                    "janus did not answer at {ws_url} within {START_TIMEOUT:?} ({err:#}); its log \
                     ends with:\n{}",
                    tail(&log)
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let server = Server {
        kind: ServerKind::Janus,
        pid,
        url: ws_url,
        child,
        log,
        _dir: dir,
    };
    Ok((server, Box::new(adapter)))
}

fn scratch(name: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("concord-compare-{name}-"))
        .tempdir()
        .with_context(|| format!("a scratch directory for {name}"))
}

/// A port free on 127.0.0.1 right now (Janus's WebSocket port must be given up front).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

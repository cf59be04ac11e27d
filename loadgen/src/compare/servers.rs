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
use crate::child_log::tail;
use crate::concord_process::spawn_until_serving;

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(30);

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
    let concord = spawn_until_serving(
        Command::new(concord_bin)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--media-bind")
            .arg(format!("{media_ip}:0")),
        "concord",
        &password,
        &log,
        START_TIMEOUT,
    )
    .await?;
    let url = concord.url.clone();
    let server = Server {
        kind: ServerKind::Concord,
        pid: concord.pid,
        url: concord.url,
        child: concord.child,
        log,
        _dir: dir,
    };
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

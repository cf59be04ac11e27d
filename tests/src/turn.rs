//! A real TURN server for the tests: Debian's coturn (`turnserver`), with coturn's REST-style
//! shared secret (`use-auth-secret`), as a deployment runs it beside Concord. It listens on one
//! test address only (loopback or a test namespace's root-side veth) and relays from there.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::netns;

/// How long coturn may take to start listening.
const STARTS_WITHIN: Duration = Duration::from_secs(10);

/// A running coturn; stopped when dropped.
pub struct TurnServer {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl TurnServer {
    /// Starts coturn on `ip` (a free port for both UDP and TCP) with `secret` as its
    /// `static-auth-secret`.
    pub fn start(ip: Ipv4Addr, secret: &str) -> Result<TurnServer> {
        if !(ip.is_loopback() || netns::in_subnet(ip)) {
            bail!("the test TURN server listens only on 127.0.0.0/8 or a test veth, not {ip}");
        }
        let program = ["/usr/bin/turnserver", "/usr/sbin/turnserver"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| anyhow!("coturn's `turnserver` not found: apt-get install coturn"))?;
        let port = free_port(ip)?;
        let dir = tempfile::Builder::new()
            .prefix("concord-turn-")
            .tempdir()
            .context("a directory for coturn")?;
        let arg = |name: &str, value: &dyn std::fmt::Display| format!("--{name}={value}");
        let child = Command::new(program)
            .args([
                "-n".to_owned(),
                arg("listening-ip", &ip),
                arg("relay-ip", &ip),
                arg("listening-port", &port),
                arg("realm", &"concord.test"),
                "--use-auth-secret".to_owned(),
                arg("static-auth-secret", &secret),
                arg("userdb", &dir.path().join("turndb").display()),
                arg("pidfile", &dir.path().join("turnserver.pid").display()),
                "--no-tls".to_owned(),
                "--no-dtls".to_owned(),
                "--no-cli".to_owned(),
                "--fingerprint".to_owned(),
                "--no-multicast-peers".to_owned(),
                "--log-file=stdout".to_owned(),
                "--simple-log".to_owned(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting coturn")?;
        let mut server = TurnServer {
            child,
            addr: SocketAddr::new(ip.into(), port),
            _dir: dir,
        };
        server.wait_listening()?;
        Ok(server)
    }

    /// Where it listens, over UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URLs over UDP and over TCP, as a browser's `iceServers` takes them.
    pub fn urls(&self) -> Vec<String> {
        ["udp", "tcp"]
            .map(|transport| format!("turn:{}?transport={transport}", self.addr))
            .to_vec()
    }

    fn wait_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTS_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().context("watching coturn")? {
                bail!("coturn exited at start: {status}");
            }
            if std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "coturn did not listen on {} within {STARTS_WITHIN:?}",
                    self.addr
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TurnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on `ip` for both UDP and TCP at the moment of asking.
fn free_port(ip: Ipv4Addr) -> Result<u16> {
    for _ in 0..20 {
        let udp = UdpSocket::bind((ip, 0)).context("probing for a free port")?;
        let port = udp.local_addr()?.port();
        if TcpListener::bind((ip, port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no port free for both UDP and TCP on {ip}")
}

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
    /// Where it takes TURN over TLS, when started with a certificate, and the SHA-256 of that
    /// certificate's public key (base64), for a browser told to trust it.
    tls: Option<(SocketAddr, String)>,
    _dir: tempfile::TempDir,
}

impl TurnServer {
    /// Starts coturn on `ip` (a free port for both UDP and TCP) with `secret` as its
    /// `static-auth-secret`.
    pub fn start(ip: Ipv4Addr, secret: &str) -> Result<TurnServer> {
        TurnServer::start_with(ip, secret, false)
    }

    /// As [`start`](Self::start), and also TURN over TLS on a port of its own, with a
    /// certificate made for `ip` by `openssl` (self-signed: a browser that checks TURN
    /// certificates against its roots refuses it).
    pub fn start_with_tls(ip: Ipv4Addr, secret: &str) -> Result<TurnServer> {
        TurnServer::start_with(ip, secret, true)
    }

    fn start_with(ip: Ipv4Addr, secret: &str, tls: bool) -> Result<TurnServer> {
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
        let mut tls_args = vec!["--no-tls".to_owned()];
        let mut tls_at = None;
        if tls {
            let (cert, key) = self_signed_certificate(ip, dir.path())?;
            let tls_port = free_port(ip)?;
            tls_at = Some((SocketAddr::new(ip.into(), tls_port), spki_sha256(&cert)?));
            tls_args = vec![
                arg("tls-listening-port", &tls_port),
                arg("cert", &cert.display()),
                arg("pkey", &key.display()),
            ];
        }
        let child = Command::new(program)
            .args(tls_args)
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
            tls: tls_at,
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

    /// Its URL over TLS, when started with [`start_with_tls`](Self::start_with_tls).
    pub fn tls_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|(addr, _)| format!("turns:{addr}?transport=tcp"))
    }

    /// The Chromium flag that trusts this server's self-signed certificate (by its public
    /// key), as a real deployment's certificate from a public CA is trusted.
    pub fn tls_trust_flag(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|(_, spki)| format!("--ignore-certificate-errors-spki-list={spki}"))
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

/// A self-signed certificate and its key for `ip`, written under `dir`.
fn self_signed_certificate(ip: Ipv4Addr, dir: &std::path::Path) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("turn-cert.pem"), dir.join("turn-key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=turn.concord.test"])
        .arg("-addext")
        .arg(format!("subjectAltName=IP:{ip}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running openssl (apt-get install openssl)")?;
    if !status.success() {
        bail!("openssl could not make a certificate: {status}");
    }
    Ok((cert, key))
}

/// The base64 SHA-256 of the public key in the certificate at `cert` (what Chromium's
/// `--ignore-certificate-errors-spki-list` takes).
fn spki_sha256(cert: &std::path::Path) -> Result<String> {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | openssl base64 -A",
        cert.display()
    );
    let output = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .context("hashing the certificate's public key with openssl")?;
    let hash = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || hash.len() != 44 {
        bail!(
            "openssl could not hash the certificate's public key: {}",
            output.status
        );
    }
    Ok(hash)
}

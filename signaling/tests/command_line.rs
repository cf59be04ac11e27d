//! The `concord` binary as a newcomer runs it: `demo` prints working links, `serve` creates the
//! database on first start and serves HTTPS with a self-signed certificate when asked.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStderr, Command};
use tokio::time::timeout;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

const START_TIMEOUT: Duration = Duration::from_secs(30);

fn concord() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_concord"));
    command
        .env_remove("CONCORD_ADMIN_PASSWORD")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A plain HTTP/1.1 request over any stream; returns (status line, body).
async fn http_get<S>(mut stream: S, path: &str) -> (String, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

/// Reads stderr until the "serving at" line and returns the base URL from it.
async fn wait_until_serving(stderr: &mut Lines<BufReader<ChildStderr>>) -> String {
    timeout(START_TIMEOUT, async {
        while let Some(line) = stderr.next_line().await.expect("read stderr") {
            if let Some(at) = line.find("serving at ") {
                return line[at + "serving at ".len()..].trim().to_owned();
            }
        }
        panic!("concord exited before serving");
    })
    .await
    .expect("concord starts within the timeout")
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

async fn stop(mut child: Child) {
    let _ = child.start_kill();
    let _ = timeout(Duration::from_secs(10), child.wait()).await;
}

#[tokio::test]
async fn demo_prints_one_working_link_per_person_with_the_real_port() {
    let mut child = concord()
        .args(["demo", "--listen", "127.0.0.1:0"])
        .spawn()
        .expect("start concord demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut links = Vec::new();
    for _ in 0..4 {
        let line = timeout(START_TIMEOUT, lines.next_line())
            .await
            .expect("a link line within the timeout")
            .expect("read stdout")
            .expect("demo prints four lines");
        let link: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?} is JSON: {e}"));
        links.push(link);
    }
    let roles: Vec<&str> = links.iter().filter_map(|l| l["role"].as_str()).collect();
    assert_eq!(roles, ["mediator", "party", "party", "expert"]);

    let port = port_of(links[0]["url"].as_str().expect("url"));
    assert_ne!(port, 0, "the printed URLs carry the real port");
    for link in &links {
        let url = link["url"].as_str().expect("url");
        assert!(
            url.starts_with(&format!("http://127.0.0.1:{port}/")),
            "{url}"
        );
        assert!(!link["name"].as_str().unwrap_or_default().is_empty());
    }
    for link in &links[1..] {
        let url = link["url"].as_str().expect("url");
        let token = url.rsplit('/').next().expect("token");
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (status, body) =
            http_get(stream, &format!("/api/invitations/inspect?token={token}")).await;
        assert!(
            status.contains("200"),
            "{url} is a valid invitation: {status} {body}"
        );
        assert!(
            body.contains(link["role"].as_str().expect("role")),
            "{body}"
        );
    }
    // The mediator's link signs in once and lands in the session's room.
    let path = links[0]["url"].as_str().expect("url");
    let path = &path[path.find("/login/").expect("a sign-in link")..];
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (status, _) = http_get(stream, path).await;
    assert!(
        status.contains("303"),
        "the sign-in link redirects: {status}"
    );
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (status, _) = http_get(stream, path).await;
    assert!(
        status.contains("404"),
        "the sign-in link works once: {status}"
    );
    stop(child).await;
}

fn tls_client(data_dir: &Path) -> tokio_rustls::TlsConnector {
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = CertificateDer::from_pem_file(data_dir.join("tls/self-signed.crt"))
        .expect("the self-signed certificate is kept in the data directory");
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("a valid certificate");
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn serve_creates_its_database_prints_a_setup_link_and_speaks_https_when_asked() {
    let data = std::env::temp_dir().join(format!("concord-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data_arg = data.to_str().expect("utf-8 path").to_owned();
    let mut child = concord()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--media-bind",
            "127.0.0.1:0",
        ])
        .args(["--tls", "self-signed", "--data-dir", &data_arg])
        .spawn()
        .expect("start concord serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut stderr = BufReader::new(stderr).lines();
    let base = wait_until_serving(&mut stderr).await;
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let setup = timeout(START_TIMEOUT, async {
        while let Some(line) = stderr.next_line().await.expect("read stderr") {
            if let Some(at) = line.find("/setup/") {
                return line[at..].trim().to_owned();
            }
        }
        panic!("no setup link printed");
    })
    .await
    .expect("a setup link on first start");
    assert!(setup.len() > "/setup/".len() + 20, "{setup}");
    assert!(
        data.join("concord.db").exists(),
        "SQLite created on first start"
    );

    let port = port_of(&base);
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let server_name = ServerName::try_from("localhost").expect("name");
    let tls = tls_client(&data)
        .connect(server_name, tcp)
        .await
        .expect("TLS handshake verifies against the self-signed certificate");
    let (status, body) = http_get(tls, "/api/health").await;
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("\"ok\""), "{body}");
    stop(child).await;
    let _ = std::fs::remove_dir_all(&data);
}

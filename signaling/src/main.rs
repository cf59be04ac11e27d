//! The `concord` binary: `concord serve` runs the server, `concord demo` a throwaway one with
//! a demo session whose links it prints as JSON lines.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use concord_signaling::config::{MediaOverrides, Overrides, TlsMode, TlsOverrides};
use concord_signaling::{start, Config};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "concord",
    version,
    about = "Video mediation and remote expert consultation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServerArgs),
    /// Run a throwaway server with a demo session and print its invitation links (JSON lines).
    Demo(ServerArgs),
}

#[derive(Args)]
struct ServerArgs {
    /// A TOML configuration file (see concord.sample.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// HTTP and WebSocket address, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (database, TLS material).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://…
    #[arg(long)]
    database_url: Option<String>,
    /// Origin used in links, e.g. https://mediation.example.org
    #[arg(long)]
    public_url: Option<String>,
    /// off, self-signed or files.
    #[arg(long, value_parser = parse_tls_mode)]
    tls: Option<TlsMode>,
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// The UDP address for all media.
    #[arg(long)]
    media_bind: Option<SocketAddr>,
    /// The media address browsers are told to use (IP or IP:PORT), e.g. behind a 1:1 NAT.
    #[arg(long, value_parser = parse_advertised)]
    media_advertise: Option<(IpAddr, Option<u16>)>,
}

fn parse_tls_mode(value: &str) -> Result<TlsMode, String> {
    match value {
        "off" => Ok(TlsMode::Off),
        "self-signed" => Ok(TlsMode::SelfSigned),
        "files" => Ok(TlsMode::Files),
        _ => Err("expected off, self-signed or files".to_owned()),
    }
}

fn parse_advertised(value: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok((addr.ip(), Some(addr.port())));
    }
    value
        .parse::<IpAddr>()
        .map(|ip| (ip, None))
        .map_err(|_| "expected IP or IP:PORT".to_owned())
}

impl ServerArgs {
    fn overrides(&self) -> Overrides {
        let tls =
            (self.tls.is_some() || self.tls_cert.is_some() || self.tls_key.is_some()).then(|| {
                TlsOverrides {
                    mode: self.tls.or(self.tls_cert.as_ref().map(|_| TlsMode::Files)),
                    cert: self.tls_cert.clone(),
                    key: self.tls_key.clone(),
                }
            });
        let media =
            (self.media_bind.is_some() || self.media_advertise.is_some()).then(|| MediaOverrides {
                bind: self.media_bind,
                advertised_ip: self.media_advertise.map(|(ip, _)| ip),
                advertised_port: self.media_advertise.and_then(|(_, port)| port),
            });
        Overrides {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            public_url: self.public_url.clone(),
            tls,
            media,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr: stdout is for `demo`'s JSON lines.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,str0m=warn,sqlx=warn,tower_http=warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Demo(args) => demo(args).await,
    }
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref(), &args.overrides())?;
    let server = start(config).await?;
    eprintln!("Concord is serving at {}", server.base_url());
    if let Some(link) = server.setup_link() {
        eprintln!(
            "First start: open this link once to set the administrator's password:\n  {link}"
        );
    }
    shutdown_signal().await;
    server.shutdown().await;
    Ok(())
}

async fn demo(args: ServerArgs) -> anyhow::Result<()> {
    let mut overrides = args.overrides();
    let scratch = match &overrides.data_dir {
        Some(_) => None,
        None => {
            let dir = std::env::temp_dir().join(format!(
                "concord-demo-{}",
                concord_signaling::secrets::new_id()
            ));
            overrides.data_dir = Some(dir.clone());
            Some(dir)
        }
    };
    // A throwaway server takes a free media port unless told otherwise.
    if overrides.media.as_ref().and_then(|m| m.bind).is_none() {
        let media = overrides.media.get_or_insert_with(MediaOverrides::default);
        media.bind = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    let config = Config::load(args.config.as_deref(), &overrides)?;
    let server = start(config).await?;
    for link in server.seed_demo().await? {
        println!(
            "{}",
            serde_json::to_string(&link).context("encoding a demo link")?
        );
    }
    eprintln!(
        "Demo server at {}; open the links above. Ctrl-C stops it.",
        server.base_url()
    );
    shutdown_signal().await;
    server.shutdown().await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

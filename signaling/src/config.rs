//! The typed configuration: defaults, then a TOML file, then `CONCORD_*` environment variables,
//! then command-line flags. Unknown keys are rejected and the result is validated at start.
//! `concord.sample.toml` at the repository root documents every key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP and WebSocket address.
    pub listen: SocketAddr,
    /// Where the SQLite database (and later recordings) live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means SQLite at `{data_dir}/concord.db`.
    pub database_url: String,
    /// The origin put in invitation links, e.g. `https://mediation.example.gov.cn`. Empty means
    /// derived from `listen` and the TLS mode.
    pub public_url: String,
    /// Password for the `admin` account created on first start. Empty means a one-time setup
    /// link is printed instead.
    pub admin_password: String,
    pub tls: TlsConfig,
    pub media: MediaConfig,
    pub invitations: InvitationConfig,
    pub signaling: SignalingConfig,
    pub recording: RecordingConfig,
    pub turn: TurnConfig,
}

/// TURN servers handed to every participant, for networks where even TCP to the media port is
/// blocked. Credentials are coturn's REST style (`use-auth-secret`): made per participant, valid
/// for `lifetime_minutes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// TURN URLs, e.g. `turn:turn.example.org:3478?transport=udp`,
    /// `turns:turn.example.org:443?transport=tcp`. Empty: no TURN.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret` (better from `CONCORD_TURN__SECRET` than from a file).
    pub secret: String,
    /// How long credentials are valid. coturn checks them again when a relay is refreshed, so
    /// this is also the longest a relayed call can last.
    pub lifetime_minutes: u64,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            urls: Vec::new(),
            secret: String::new(),
            lifetime_minutes: 12 * 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Where recordings are written; empty means `{data_dir}/recordings`.
    pub dir: PathBuf,
    /// Seconds between telling everyone recording will start and starting it.
    pub notice_secs: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            dir: PathBuf::new(),
            notice_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub mode: TlsMode,
    /// PEM certificate chain and key, for `mode = "files"`.
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    Off,
    SelfSigned,
    Files,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The one UDP address every peer's media uses.
    pub bind: SocketAddr,
    /// The address browsers are told to send media to (behind a 1:1 NAT: the public one).
    pub advertised_ip: Option<IpAddr>,
    /// The advertised port, if the NAT maps to another port.
    pub advertised_port: Option<u16>,
    /// Threads forwarding media (each room stays on one); 0 means one per CPU core.
    pub threads: usize,
    /// Cameras publish simulcast layers (the SFU picks one per subscriber). Off: one stream
    /// each, as before simulcast; for comparisons.
    pub simulcast: bool,
    /// Media over TCP (ICE-TCP) too, for browsers on networks that block UDP.
    pub tcp: bool,
    /// Its TCP port; by default the same number as the UDP port.
    pub tcp_port: Option<u16>,
}

impl MediaConfig {
    /// The TCP port for media as the SFU takes it: `None` off, `Some(0)` the UDP port's.
    pub fn sfu_tcp_port(&self) -> Option<u16> {
        self.tcp.then_some(self.tcp_port.unwrap_or(0))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InvitationConfig {
    /// Validity of a new invitation link when the mediator does not say.
    pub default_ttl_minutes: u64,
    /// Longest validity a mediator may choose.
    pub max_ttl_minutes: u64,
    /// Failed token look-ups allowed per address per minute before it is refused.
    pub failures_per_minute: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SignalingConfig {
    /// Seconds of silence from a client before the server pings it.
    pub ping_after_secs: u64,
    /// Seconds of silence after which the client is dropped.
    pub drop_after_secs: u64,
    /// Sign-in cookie lifetime.
    pub sign_in_hours: u64,
    /// Seconds a new WebSocket has to send `join` before it is closed.
    pub join_within_secs: u64,
    /// Seconds an admitted participant's seat is held after their connection drops, for them
    /// to `resume` it; after that they have left. Also across a restart, from the last moment
    /// the stopped run was known running (`liveness.rs`).
    pub resume_grace_secs: u64,
    /// HTTP connections (WebSockets included) open at once from one address (IPv6: one /64),
    /// and in all; more are closed as they arrive.
    pub max_connections_per_address: usize,
    pub max_connections: usize,
    /// Reverse proxies in front of the server (their own addresses): their `X-Forwarded-For`
    /// names the client for rate limits and the audit trail, and they are not held to the
    /// per-address cap. Empty: every client is counted as the address it connects from.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            public_url: String::new(),
            admin_password: String::new(),
            tls: TlsConfig::default(),
            media: MediaConfig::default(),
            invitations: InvitationConfig::default(),
            signaling: SignalingConfig::default(),
            recording: RecordingConfig::default(),
            turn: TurnConfig::default(),
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            mode: TlsMode::Off,
            cert: PathBuf::new(),
            key: PathBuf::new(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 50000)),
            advertised_ip: None,
            advertised_port: None,
            threads: 0,
            simulcast: true,
            tcp: true,
            tcp_port: None,
        }
    }
}

impl Default for InvitationConfig {
    fn default() -> Self {
        InvitationConfig {
            default_ttl_minutes: 3 * 24 * 60,
            max_ttl_minutes: 30 * 24 * 60,
            failures_per_minute: 10,
        }
    }
}

impl Default for SignalingConfig {
    fn default() -> Self {
        SignalingConfig {
            ping_after_secs: 20,
            drop_after_secs: 45,
            sign_in_hours: 12,
            join_within_secs: 10,
            resume_grace_secs: 60,
            max_connections_per_address: 256,
            max_connections: 10_000,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Values given on the command line; only those present override the other layers.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaOverrides>,
}

#[derive(Debug, Default, Serialize)]
pub struct TlsOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<TlsMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize)]
pub struct MediaOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_port: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Layers defaults, the optional TOML file, the environment and the flags, then validates.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::MissingFile(file.to_owned()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("CONCORD_").split("__"))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Defaults for tests: everything on 127.0.0.1 with free ports, SQLite in `data_dir`, and
    /// an `admin` account with a known password.
    pub fn for_tests(data_dir: &Path) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_owned(),
            admin_password: "admin-password-for-tests".to_owned(),
            media: MediaConfig {
                bind: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..MediaConfig::default()
            },
            ..Config::default()
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.tls.mode == TlsMode::Files
            && (self.tls.cert.as_os_str().is_empty() || self.tls.key.as_os_str().is_empty())
        {
            return invalid("tls.mode = \"files\" needs tls.cert and tls.key");
        }
        if !self.database_url.is_empty()
            && !self.database_url.starts_with("sqlite:")
            && !self.database_url.starts_with("postgres://")
            && !self.database_url.starts_with("postgresql://")
        {
            return invalid("database_url must start with sqlite: or postgres://");
        }
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return invalid("public_url must start with http:// or https://");
        }
        let inv = &self.invitations;
        if inv.default_ttl_minutes == 0 || inv.default_ttl_minutes > inv.max_ttl_minutes {
            return invalid(
                "invitations.default_ttl_minutes must be between 1 and max_ttl_minutes",
            );
        }
        let sig = &self.signaling;
        if sig.ping_after_secs == 0 || sig.drop_after_secs <= sig.ping_after_secs {
            return invalid("signaling.drop_after_secs must be greater than ping_after_secs (> 0)");
        }
        if sig.sign_in_hours == 0 {
            return invalid("signaling.sign_in_hours must be at least 1");
        }
        if sig.join_within_secs == 0 {
            return invalid("signaling.join_within_secs must be at least 1");
        }
        if sig.resume_grace_secs == 0 || sig.resume_grace_secs > 3600 {
            return invalid("signaling.resume_grace_secs must be between 1 and 3600");
        }
        if sig.max_connections_per_address == 0
            || sig.max_connections < sig.max_connections_per_address
        {
            return invalid(
                "signaling.max_connections_per_address must be at least 1 and no more than \
                 signaling.max_connections",
            );
        }
        let turn = &self.turn;
        if !turn.urls.is_empty() {
            if turn
                .urls
                .iter()
                .any(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
            {
                return invalid("turn.urls must start with turn: or turns:");
            }
            if turn.secret.len() < 16 {
                return invalid(
                    "turn.secret must be at least 16 characters (coturn's static-auth-secret)",
                );
            }
            if turn.lifetime_minutes == 0 {
                return invalid("turn.lifetime_minutes must be at least 1");
            }
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("concord.db").display()
            )
        } else {
            self.database_url.clone()
        }
    }

    /// Where photos and documents shared in rooms are kept (never served as static files).
    pub fn documents_dir(&self) -> PathBuf {
        self.data_dir.join("documents")
    }

    pub fn recordings_dir(&self) -> PathBuf {
        if self.recording.dir.as_os_str().is_empty() {
            self.data_dir.join("recordings")
        } else {
            self.recording.dir.clone()
        }
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls.mode != TlsMode::Off
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_in_the_file_are_rejected() {
        let dir = std::env::temp_dir().join(format!("concord-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("bad.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nlisten_port = 1\n").expect("write");
        let error = Config::load(Some(&file), &Overrides::default()).expect_err("must fail");
        assert!(error.to_string().contains("listen_port"), "{error}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("concord-config2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("ok.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[media]\nbind = \"127.0.0.1:9001\"\n",
        )
        .expect("write");
        let overrides = Overrides {
            listen: Some("127.0.0.1:9100".parse().expect("addr")),
            ..Overrides::default()
        };
        let config = Config::load(Some(&file), &overrides).expect("loads");
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.media.bind.port(), 9001);
    }

    #[test]
    fn the_sample_file_is_valid_and_complete() {
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../concord.sample.toml");
        let config = Config::load(Some(Path::new(sample)), &Overrides::default()).expect("loads");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn files_mode_without_certificate_is_invalid() {
        let mut config = Config::default();
        config.tls.mode = TlsMode::Files;
        assert!(config.validate().is_err());
    }
}

//! HTTPS: a certificate from files, or a self-signed one for trying Concord on a LAN (phone
//! browsers only open the camera on a secure origin). The self-signed certificate is kept in
//! the data directory so a phone that accepted it once keeps accepting it.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;

use crate::config::{Config, TlsMode};

pub async fn rustls_config(
    config: &Config,
    extra_ips: &[IpAddr],
) -> anyhow::Result<Option<RustlsConfig>> {
    // Several crates bring rustls; pick its crypto explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match config.tls.mode {
        TlsMode::Off => Ok(None),
        TlsMode::Files => {
            let tls = RustlsConfig::from_pem_file(&config.tls.cert, &config.tls.key)
                .await
                .context("reading the TLS certificate and key")?;
            Ok(Some(tls))
        }
        TlsMode::SelfSigned => {
            let (cert, key) = self_signed(&config.data_dir.join("tls"), extra_ips)?;
            Ok(Some(RustlsConfig::from_pem(cert, key).await?))
        }
    }
}

fn self_signed(dir: &Path, ips: &[IpAddr]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let cert_path = dir.join("self-signed.crt");
    let key_path = dir.join("self-signed.key");
    if let (Ok(cert), Ok(key)) = (std::fs::read(&cert_path), std::fs::read(&key_path)) {
        return Ok((cert, key));
    }
    let mut names = vec!["localhost".to_owned()];
    names.extend(ips.iter().map(IpAddr::to_string));
    let generated =
        rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
    let cert = generated.cert.pem().into_bytes();
    let key = generated.key_pair.serialize_pem().into_bytes();
    crate::private_files::private_dir(dir).context("creating the TLS directory")?;
    std::fs::write(&cert_path, &cert).context("saving the certificate")?;
    std::fs::write(&key_path, &key).context("saving the key")?;
    Ok((cert, key))
}

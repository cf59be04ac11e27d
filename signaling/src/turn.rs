//! TURN credentials for each participant, in coturn's REST style (`use-auth-secret`): the
//! username is `expiry:participant` (expiry in Unix seconds) and the password the base64 HMAC-SHA1
//! of that username under the secret Concord shares with coturn. coturn checks both without
//! asking Concord anything, and refuses them once the expiry has passed, so a link forwarded
//! or a page left open does not give anyone a relay for long.

use base64::Engine;
use serde::Serialize;

use crate::config::TurnConfig;

/// One entry of a browser's `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// The ICE servers for `participant` at `now_unix` (seconds): none without TURN configured.
pub fn ice_servers(config: &TurnConfig, participant: &str, now_unix: i64) -> Vec<IceServer> {
    if config.urls.is_empty() {
        return Vec::new();
    }
    let lifetime = i64::try_from(config.lifetime_minutes.saturating_mul(60)).unwrap_or(i64::MAX);
    let expiry = now_unix.saturating_add(lifetime);
    let username = format!("{expiry}:{participant}");
    vec![IceServer {
        urls: config.urls.clone(),
        credential: password(&config.secret, &username),
        username,
    }]
}

/// coturn's REST password for `username`: base64(HMAC-SHA1(secret, username)).
fn password(secret: &str, username: &str) -> String {
    let mac = concord_sfu::sha1_hmac(secret.as_bytes(), &[username.as_bytes()]);
    base64::engine::general_purpose::STANDARD.encode(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TurnConfig {
        TurnConfig {
            urls: vec![
                "turn:turn.example.org:3478?transport=udp".into(),
                "turns:turn.example.org:443?transport=tcp".into(),
            ],
            secret: "north-county-turn-secret".into(),
            lifetime_minutes: 60,
        }
    }

    #[test]
    fn credentials_are_coturns_rest_style() {
        // The password, computed independently (Python's hmac and base64).
        assert_eq!(
            password("north-county-turn-secret", "1767225600:4f2a9c"),
            "pPoD1ZJMEWMvJN8BEaK9TpzxiPM="
        );
        let servers = ice_servers(&config(), "4f2a9c", 1_767_222_000);
        assert_eq!(servers.len(), 1);
        assert_eq!(
            servers[0].username, "1767225600:4f2a9c",
            "expires in an hour"
        );
        assert_eq!(servers[0].credential, "pPoD1ZJMEWMvJN8BEaK9TpzxiPM=");
        assert_eq!(servers[0].urls, config().urls);
    }

    #[test]
    fn each_participant_gets_its_own_and_none_without_turn() {
        let a = ice_servers(&config(), "a", 0);
        let b = ice_servers(&config(), "b", 0);
        assert_ne!(a[0].credential, b[0].credential);
        assert!(ice_servers(&TurnConfig::default(), "a", 0).is_empty());
    }
}

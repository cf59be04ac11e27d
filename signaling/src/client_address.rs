//! The address a request comes from, for rate limits and the audit trail. Behind a reverse
//! proxy every request arrives from the proxy: counted by that address, ten bad links from one
//! village would lock out everyone. So a proxy the configuration trusts is believed about the
//! client it forwards (`X-Forwarded-For`); anyone else's header is ignored, or a client could
//! pick a fresh address for every guess.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::state::AppState;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address: the connection's peer, or the client a trusted proxy forwarded for.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip())
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no peer address on a request")))?;
        Ok(ClientAddress(client_of(
            peer,
            &parts.headers,
            &state.config.signaling.trusted_proxies,
        )))
    }
}

/// Walks `X-Forwarded-For` from the nearest hop back while the hop is a trusted proxy: the
/// first address a trusted proxy vouches for that is not itself a proxy is the client. Proxies
/// append, so only the rightmost entries are the trusted ones' own; what a client wrote itself
/// sits further left and is never reached past an untrusted hop.
pub fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.contains(&canonical(*ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // A hop we cannot read: nothing further left can be vouched for.
            break;
        };
        client = canonical(ip);
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

/// An IPv4 address seen through an IPv6 socket is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, value.parse().expect("a header value"));
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_of(ip("198.51.100.7"), &headers, &[]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_of(ip("198.51.100.7"), &headers, &[ip("10.0.0.1")]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_about_the_hop_before_it_and_no_further() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy, ip("10.0.0.2")];
        // The client forged the first entry; the proxy appended the address it saw.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9"]);
        assert_eq!(client_of(proxy, &headers, &trusted), ip("203.0.113.9"));
        // Two proxies in a row, the header split over two lines.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_of(proxy, &headers, &trusted), ip("203.0.113.9"));
        // No header: the proxy itself (its own health checks, say).
        assert_eq!(client_of(proxy, &HeaderMap::new(), &trusted), proxy);
        // Garbage stops the walk at the last address vouched for.
        let headers = forwarded(&["203.0.113.9, not-an-address"]);
        assert_eq!(client_of(proxy, &headers, &trusted), proxy);
        // An IPv4 client seen through an IPv6 socket.
        let mapped = ip("::ffff:10.0.0.1");
        let headers = forwarded(&["::ffff:203.0.113.9"]);
        assert_eq!(client_of(mapped, &headers, &trusted), ip("203.0.113.9"));
    }
}

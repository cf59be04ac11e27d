//! What a client must do to keep an HTTP connection (and so a socket and a task) on the
//! server: start its request promptly, and leave room for everyone else. Connections over the
//! cap for their address, or over the cap in all, are closed as they arrive; a connection that
//! sends nothing within the timeout is closed. (Headers begun but never finished are hyper's
//! header timeout's to close.)

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::ratelimit::address_key;

/// The limits a [`ConnectionGuard`] holds connections to.
#[derive(Debug, Clone)]
pub struct Limits {
    pub per_address: usize,
    pub total: usize,
    /// Addresses not held to `per_address` (trusted reverse proxies: everyone comes through
    /// them).
    pub exempt: Vec<IpAddr>,
    /// How long a new connection has to send its first byte.
    pub first_byte_within: Duration,
}

/// An acceptor that counts open connections per address (IPv6 per /64) and in all.
#[derive(Clone)]
pub struct ConnectionGuard {
    shared: Arc<Shared>,
}

struct Shared {
    limits: Limits,
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

impl ConnectionGuard {
    pub fn new(limits: Limits) -> ConnectionGuard {
        ConnectionGuard {
            shared: Arc::new(Shared {
                limits,
                open: Mutex::new(Counts::default()),
            }),
        }
    }
}

/// One counted connection; dropping it gives its place back.
struct Place {
    shared: Arc<Shared>,
    address: IpAddr,
}

impl Place {
    fn take(shared: &Arc<Shared>, address: IpAddr) -> Option<Place> {
        let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
        let limits = &shared.limits;
        let here = open.per_address.get(&address).copied().unwrap_or(0);
        let exempt = limits.exempt.iter().any(|ip| address_key(*ip) == address);
        if open.total >= limits.total || (here >= limits.per_address && !exempt) {
            return None;
        }
        open.total += 1;
        *open.per_address.entry(address).or_insert(0) += 1;
        Some(Place {
            shared: shared.clone(),
            address,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.shared.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.per_address.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.per_address.remove(&self.address);
            }
        }
    }
}

/// A TCP stream holding its place among the open connections.
pub struct GuardedStream {
    stream: TcpStream,
    _place: Place,
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

type Accepted<S> = Pin<Box<dyn Future<Output = io::Result<(GuardedStream, S)>> + Send>>;

impl<S: Send + 'static> Accept<TcpStream, S> for ConnectionGuard {
    type Stream = GuardedStream;
    type Service = S;
    type Future = Accepted<S>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let address = address_key(stream.peer_addr()?.ip());
            let place = Place::take(&shared, address).ok_or_else(|| {
                io::Error::new(io::ErrorKind::ConnectionRefused, "too many connections")
            })?;
            let mut first = [0u8; 1];
            let within = shared.limits.first_byte_within;
            match tokio::time::timeout(within, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => Ok((
                    GuardedStream {
                        stream,
                        _place: place,
                    },
                    service,
                )),
                Ok(Ok(_)) => Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(io::ErrorKind::TimedOut.into()),
            }
        })
    }
}

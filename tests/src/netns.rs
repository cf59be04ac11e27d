//! A network namespace for ONE impaired participant, with a real kernel bandwidth cap.
//!
//! [`Netns::create`] makes a uniquely named namespace (`concord-{pid}-{n}`) joined to the root
//! namespace by a veth pair on a private /30: the root side is `10.213.X.1`, the namespace side
//! `10.213.X.2`. A browser started inside ([`crate::chromium::Browser::launch_in_netns`]) reaches
//! a server bound to [`Netns::root_addr`] only across that veth, so a `tbf` qdisc on either end
//! is a real bandwidth cap on that one participant: [`Netns::cap_downlink`] shapes the root-side
//! egress (what the SFU sends to the participant), [`Netns::cap_uplink`] the namespace-side
//! egress (what the participant publishes). `netem` is missing on these machines; `tbf` works.
//!
//! Sockets keep the namespace they were created in, so the test process can own sockets inside
//! the namespace without running a helper there: [`Netns::run_inside`] runs a closure on a
//! short-lived thread that entered the namespace with `setns(2)`.
//!
//! Needs root (CI and these machines run as root) and iproute2 (`ip`, `tc`). Dropping the
//! [`Netns`] deletes the veth and the namespace (best effort, failures printed). Namespaces left
//! by a killed test process are removed by the next [`Netns::create`] (the name carries the pid).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// Where `ip netns add` puts the namespace handles.
pub const NETNS_DIR: &str = "/var/run/netns";
/// Every namespace this module creates is named `{NAME_PREFIX}{pid}-{counter}`.
pub const NAME_PREFIX: &str = "concord-";
/// The private /16 the veth pairs are carved from (one /30 each): nothing else on these
/// machines uses it, and it never leaves the host.
pub const SUBNET: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 213, 0, 0), 16);
/// /30 subnets in [`SUBNET`].
const SLOTS: u32 = 1 << 14;
/// Slots tried after the first choice is taken (by a parallel test or another process).
const SLOT_ATTEMPTS: u32 = 64;
/// tbf queue: how long a packet may wait before tail drop. A home router's queue is often
/// deeper, but a deeper queue only adds delay; 100 ms is what FIELD-NOTES measured with.
const TBF_LATENCY_MS: u32 = 100;
/// tbf bucket: at least 10 kB (a few full-size packets, so a single video frame is not
/// chopped at low rates), and at least 20 ms at the configured rate (tbf needs
/// burst >= rate / HZ to reach the rate at all).
const TBF_MIN_BURST_BYTES: u64 = 10_000;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One network namespace with a veth pair to the root namespace. See the module docs.
#[must_use = "the namespace is deleted when dropped"]
pub struct Netns {
    name: String,
    /// The root-side veth interface (its peer inside the namespace is `ns_veth`).
    root_veth: String,
    ns_veth: String,
    root_addr: Ipv4Addr,
    ns_addr: Ipv4Addr,
    ip: PathBuf,
    tc: PathBuf,
    /// Whether a cap is installed, so `None` on an uncapped link is a no-op, not an error.
    down_capped: AtomicBool,
    up_capped: AtomicBool,
}

impl Netns {
    /// Creates the namespace, the veth pair and their addresses, and brings `lo` up inside.
    pub fn create() -> Result<Netns> {
        require_root()?;
        let ip = tool("ip", "iproute2")?;
        let tc = tool("tc", "iproute2")?;
        remove_stale_namespaces(&ip);

        let pid = std::process::id();
        // A name left by an earlier process with the same pid (pids are reused, and that one
        // may still have a process inside) is skipped, not reused.
        let (n, name) = loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{NAME_PREFIX}{pid}-{n}");
            if !Path::new(NETNS_DIR).join(&name).exists() {
                break (n, name);
            }
            if n > 10_000 {
                bail!("no free namespace name {NAME_PREFIX}{pid}-N in {NETNS_DIR}");
            }
        };
        run(&ip, ["netns", "add", name.as_str()])
            .with_context(|| format!("creating the network namespace {name}"))?;
        // From here on, Drop cleans up whatever was made.
        let mut ns = Netns {
            name,
            root_veth: String::new(),
            ns_veth: String::new(),
            root_addr: Ipv4Addr::UNSPECIFIED,
            ns_addr: Ipv4Addr::UNSPECIFIED,
            ip,
            tc,
            down_capped: AtomicBool::new(false),
            up_capped: AtomicBool::new(false),
        };

        // The root-side interface name is the lock on a /30: `ip link add` fails if another
        // test (in this process or another) holds the same slot.
        let first = (pid
            .wrapping_mul(2_654_435_761)
            .wrapping_add(n.wrapping_mul(97)))
            % SLOTS;
        let mut last_err = None;
        for attempt in 0..SLOT_ATTEMPTS {
            let slot = (first + attempt) % SLOTS;
            let root_veth = format!("cw{slot}r");
            let ns_veth = format!("cw{slot}n");
            let made = run(
                &ns.ip,
                [
                    "link",
                    "add",
                    root_veth.as_str(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    ns_veth.as_str(),
                    "netns",
                    ns.name.as_str(),
                ],
            );
            match made {
                Ok(_) => {
                    ns.root_veth = root_veth;
                    ns.ns_veth = ns_veth;
                    let base = u32::from(SUBNET.0) + slot * 4;
                    ns.root_addr = Ipv4Addr::from(base + 1);
                    ns.ns_addr = Ipv4Addr::from(base + 2);
                    break;
                }
                Err(err) => last_err = Some(err),
            }
        }
        if ns.root_veth.is_empty() {
            let err = last_err.unwrap_or_else(|| anyhow!("no slot tried"));
            return Err(err.context(format!(
                "creating a veth pair for {} ({SLOT_ATTEMPTS} slots tried)",
                ns.name
            )));
        }

        let root_cidr = format!("{}/30", ns.root_addr);
        let ns_cidr = format!("{}/30", ns.ns_addr);
        let (root_veth, ns_veth, name) = (&ns.root_veth, &ns.ns_veth, &ns.name);
        // No IPv6 link-local addresses: the kernel would add them a second or two after the link
        // comes up, and Chromium takes each address change for a network change and fails the
        // requests it has in flight (a page's modules, half loaded).
        run(
            &ns.ip,
            ["link", "set", root_veth.as_str(), "addrgenmode", "none"],
        )?;
        run(
            &ns.ip,
            [
                "-n",
                name.as_str(),
                "link",
                "set",
                ns_veth.as_str(),
                "addrgenmode",
                "none",
            ],
        )?;
        run(
            &ns.ip,
            ["addr", "add", root_cidr.as_str(), "dev", root_veth.as_str()],
        )?;
        run(&ns.ip, ["link", "set", root_veth.as_str(), "up"])?;
        run(
            &ns.ip,
            [
                "-n",
                name.as_str(),
                "addr",
                "add",
                ns_cidr.as_str(),
                "dev",
                ns_veth.as_str(),
            ],
        )?;
        run(
            &ns.ip,
            ["-n", name.as_str(), "link", "set", ns_veth.as_str(), "up"],
        )?;
        // Chromium's DevTools port listens on the namespace's own 127.0.0.1.
        run(&ns.ip, ["-n", name.as_str(), "link", "set", "lo", "up"])?;
        // No default route: the namespace reaches the root side's /30 and nothing else.
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/var/run/netns/{name}`: the handle `setns(2)` takes.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.name)
    }

    /// The root-side veth address (`10.213.X.1`): bind the server here so the namespace's
    /// browser reaches it across the shaped veth (root-namespace browsers reach it locally).
    pub fn root_addr(&self) -> Ipv4Addr {
        self.root_addr
    }

    /// The namespace-side address (`10.213.X.2`): the impaired participant's own address.
    pub fn ns_addr(&self) -> Ipv4Addr {
        self.ns_addr
    }

    /// The root-side veth interface name.
    pub fn root_veth(&self) -> &str {
        &self.root_veth
    }

    /// Caps what flows INTO the namespace (the participant's downlink) at `kbit` kbit/s, or
    /// lifts the cap with `None`. Replacing a cap while traffic flows is fine.
    pub fn cap_downlink(&self, kbit: Option<u32>) -> Result<()> {
        let cmd = |args: &[&str]| run(&self.tc, args);
        set_cap(&self.root_veth, kbit, &self.down_capped, cmd)
            .with_context(|| format!("capping the downlink of {}", self.name))
    }

    /// What the downlink's qdisc has sent and dropped so far (all zero while uncapped).
    pub fn downlink_counters(&self) -> Result<QdiscCounters> {
        let out = run(
            &self.tc,
            ["-s", "qdisc", "show", "dev", self.root_veth.as_str()],
        )?;
        QdiscCounters::parse(&String::from_utf8_lossy(&out.stdout))
            .with_context(|| format!("reading the qdisc counters of {}", self.root_veth))
    }

    /// Caps what flows OUT of the namespace (the participant's uplink), like
    /// [`Netns::cap_downlink`]; the qdisc sits on the namespace-side veth.
    pub fn cap_uplink(&self, kbit: Option<u32>) -> Result<()> {
        let cmd = |args: &[&str]| {
            let mut all: Vec<&OsStr> = vec![
                OsStr::new("netns"),
                OsStr::new("exec"),
                OsStr::new(&self.name),
                self.tc.as_os_str(),
            ];
            all.extend(args.iter().map(OsStr::new));
            run(&self.ip, all)
        };
        set_cap(&self.ns_veth, kbit, &self.up_capped, cmd)
            .with_context(|| format!("capping the uplink of {}", self.name))
    }

    /// Drops every UDP datagram sent from inside the namespace (an nftables rule with a
    /// counter), as a network that lets no UDP through does: what runs inside can reach the
    /// outside only over TCP. Needs Debian's `nftables`.
    pub fn block_udp(&self) -> Result<()> {
        self.add_block_rule(&["meta", "l4proto", "udp", "counter", "drop"])
            .with_context(|| format!("blocking UDP out of {}", self.name))
    }

    /// Drops everything between the namespace and `port` of `ip`, over UDP and TCP, both
    /// ways, as a firewall that lets nothing reach a media port does (a TURN server elsewhere
    /// is then the only way through), or a phone out of coverage. Needs Debian's `nftables`.
    pub fn block_port(&self, ip: Ipv4Addr, port: u16) -> Result<()> {
        let (ip, port) = (ip.to_string(), port.to_string());
        for proto in ["udp", "tcp"] {
            self.add_block_rule(&["ip", "daddr", &ip, proto, "dport", &port, "counter", "drop"])
                .with_context(|| format!("blocking {proto} to {ip}:{port} from {}", self.name))?;
            self.add_rule(
                Chain::In,
                &["ip", "saddr", &ip, proto, "sport", &port, "counter", "drop"],
            )
            .with_context(|| format!("blocking {proto} from {ip}:{port} to {}", self.name))?;
        }
        Ok(())
    }

    /// Refuses every TCP connection from inside the namespace to `port` of `ip`, and resets
    /// those open (their next packet out is answered with a reset), as a phone that lost its
    /// network sees its sockets fail. Needs Debian's `nftables`.
    pub fn reset_tcp_to(&self, ip: Ipv4Addr, port: u16) -> Result<()> {
        let (ip, port) = (ip.to_string(), port.to_string());
        let rule = [
            "ip", "daddr", &ip, "tcp", "dport", &port, "counter", "reject", "with", "tcp", "reset",
        ];
        self.add_block_rule(&rule)
            .with_context(|| format!("resetting TCP to {ip}:{port} from {}", self.name))
    }

    /// Lifts every block of [`Netns::block_udp`], [`Netns::block_port`] and
    /// [`Netns::reset_tcp_to`].
    pub fn unblock(&self) -> Result<()> {
        self.nft(&["delete", "table", "inet", UDP_BLOCK_TABLE])
            .with_context(|| format!("lifting the blocks of {}", self.name))?;
        Ok(())
    }

    /// Adds a rule to the namespace's output filter (made on first use).
    fn add_block_rule(&self, rule: &[&str]) -> Result<()> {
        self.add_rule(Chain::Out, rule)
    }

    /// Adds a rule to the namespace's output or input filter (made on first use).
    fn add_rule(&self, chain: Chain, rule: &[&str]) -> Result<()> {
        let (name, hook) = match chain {
            Chain::Out => ("out", "{ type filter hook output priority 0 ; }"),
            Chain::In => ("in", "{ type filter hook input priority 0 ; }"),
        };
        // `add` leaves an existing table or chain as it is.
        self.nft(&["add", "table", "inet", UDP_BLOCK_TABLE])?;
        self.nft(&["add", "chain", "inet", UDP_BLOCK_TABLE, name, hook])?;
        let mut args = vec!["add", "rule", "inet", UDP_BLOCK_TABLE, name];
        args.extend_from_slice(rule);
        self.nft(&args)?;
        Ok(())
    }

    /// How many packets the first rule of [`Netns::block_udp`] or [`Netns::block_port`] has
    /// dropped so far.
    pub fn udp_dropped(&self) -> Result<u64> {
        let out = self.nft(&["list", "table", "inet", UDP_BLOCK_TABLE])?;
        parse_counter_packets(&String::from_utf8_lossy(&out.stdout))
            .ok_or_else(|| anyhow!("no counter in the UDP block of {}", self.name))
    }

    /// Runs Debian's `nft` with `args` inside the namespace.
    fn nft(&self, args: &[&str]) -> Result<Output> {
        let nft = tool("nft", "nftables")?;
        let mut all: Vec<&OsStr> = vec![
            OsStr::new("netns"),
            OsStr::new("exec"),
            OsStr::new(&self.name),
            nft.as_os_str(),
        ];
        all.extend(args.iter().map(OsStr::new));
        run(&self.ip, all)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`; `ip`
    /// execs the program, so the child's pid is the program's).
    pub fn command(&self, program: impl AsRef<OsStr>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.ip);
        cmd.arg("netns").arg("exec").arg(&self.name).arg(program);
        cmd
    }

    /// Runs `f` on a new thread that entered this namespace, and returns its result. Sockets
    /// made there stay in the namespace when handed back. Blocks the caller while `f` runs:
    /// keep `f` short (bind, connect).
    pub fn run_inside<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> io::Result<T> + Send,
    {
        let path = self.path();
        std::thread::scope(|scope| {
            scope
                .spawn(|| enter(&path).and_then(|()| f()))
                .join()
                .map_err(|_| anyhow!("the thread inside {} panicked", self.name))?
                .with_context(|| format!("inside the network namespace {}", self.name))
        })
    }

    /// Like [`Netns::run_inside`] without blocking the async caller: the thread reports back
    /// over a channel. (Never run this on a tokio blocking-pool thread: `setns` would leave that
    /// pooled thread in the namespace.)
    pub async fn run_inside_async<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        let path = self.path();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("in-{}", self.name))
            .spawn(move || {
                let _ = tx.send(enter(&path).and_then(|()| f()));
            })
            .context("starting a thread to enter the namespace")?;
        rx.await
            .map_err(|_| anyhow!("the thread inside {} panicked", self.name))?
            .with_context(|| format!("inside the network namespace {}", self.name))
    }

    /// A UDP socket bound to `addr` inside the namespace (usually `ns_addr():port`).
    pub fn udp_socket(&self, addr: SocketAddr) -> Result<UdpSocket> {
        self.run_inside(move || UdpSocket::bind(addr))
            .with_context(|| format!("binding UDP {addr}"))
    }

    /// A TCP connection from inside the namespace to `addr` (e.g. its own 127.0.0.1).
    pub async fn tcp_connect(&self, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
        self.run_inside_async(move || TcpStream::connect_timeout(&addr, timeout))
            .await
            .with_context(|| format!("connecting to {addr}"))
    }
}

impl Drop for Netns {
    /// Deletes the veth (both ends go together) and the namespace. A process still inside (a
    /// Chromium not yet closed) keeps the namespace alive until it exits, nothing more.
    fn drop(&mut self) {
        if !self.root_veth.is_empty() {
            if let Err(err) = run(&self.ip, ["link", "del", self.root_veth.as_str()]) {
                eprintln!("netns: removing veth {}: {err:#}", self.root_veth);
            }
        }
        if let Err(err) = run(&self.ip, ["netns", "del", self.name.as_str()]) {
            eprintln!("netns: removing namespace {}: {err:#}", self.name);
        }
    }
}

impl std::fmt::Debug for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netns")
            .field("name", &self.name)
            .field(
                "root",
                &format_args!("{} {}", self.root_veth, self.root_addr),
            )
            .field("ns", &format_args!("{} {}", self.ns_veth, self.ns_addr))
            .finish()
    }
}

/// Whether `ip` is in [`SUBNET`], i.e. on a veth this module made.
pub fn in_subnet(ip: Ipv4Addr) -> bool {
    let mask = u32::MAX << (32 - SUBNET.1);
    u32::from(ip) & mask == u32::from(SUBNET.0)
}

/// A qdisc's counters, as `tc -s qdisc show` prints them: what went out (bytes on the wire,
/// link-layer headers included) and what it dropped at its tail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QdiscCounters {
    pub sent_bytes: u64,
    pub sent_packets: u64,
    pub dropped: u64,
}

impl QdiscCounters {
    /// Reads the first `Sent B bytes P pkt (dropped D, ...)` line.
    fn parse(text: &str) -> Result<QdiscCounters> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("Sent "))
            .ok_or_else(|| anyhow!("no `Sent` line in {text:?}"))?;
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .filter(|w| !w.is_empty())
            .collect();
        let after = |word: &str| -> Result<u64> {
            let at = words
                .iter()
                .position(|w| *w == word)
                .ok_or_else(|| anyhow!("no `{word}` in {line:?}"))?;
            let value = words
                .get(at + 1)
                .ok_or_else(|| anyhow!("nothing after `{word}` in {line:?}"))?;
            value
                .parse()
                .with_context(|| format!("`{value}` after `{word}` in {line:?}"))
        };
        let before = |word: &str| -> Result<u64> {
            let at = words
                .iter()
                .position(|w| *w == word)
                .filter(|at| *at > 0)
                .ok_or_else(|| anyhow!("no `{word}` in {line:?}"))?;
            words[at - 1]
                .parse()
                .with_context(|| format!("`{}` before `{word}` in {line:?}", words[at - 1]))
        };
        Ok(QdiscCounters {
            sent_bytes: before("bytes")?,
            sent_packets: before("pkt")?,
            dropped: after("dropped")?,
        })
    }

    /// What went out and was dropped between `earlier` and these counters.
    pub fn since(&self, earlier: &QdiscCounters) -> QdiscCounters {
        QdiscCounters {
            sent_bytes: self.sent_bytes.saturating_sub(earlier.sent_bytes),
            sent_packets: self.sent_packets.saturating_sub(earlier.sent_packets),
            dropped: self.dropped.saturating_sub(earlier.dropped),
        }
    }
}

/// Installs (`replace`, so it also works while traffic flows) or removes the tbf qdisc on
/// `dev`; `tc` runs the `tc` arguments where the device lives.
fn set_cap(
    dev: &str,
    kbit: Option<u32>,
    capped: &AtomicBool,
    tc: impl Fn(&[&str]) -> Result<Output>,
) -> Result<()> {
    match kbit {
        Some(0) => bail!("a cap of 0 kbit/s is not a link; use a small rate instead"),
        Some(kbit) => {
            let rate = format!("{kbit}kbit");
            let burst_bytes = (u64::from(kbit) * 1000 / 8 / 50).max(TBF_MIN_BURST_BYTES);
            let burst = format!("{burst_bytes}b");
            let latency = format!("{TBF_LATENCY_MS}ms");
            tc(&[
                "qdisc",
                "replace",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                rate.as_str(),
                "burst",
                burst.as_str(),
                "latency",
                latency.as_str(),
            ])?;
            capped.store(true, Ordering::Relaxed);
        }
        None => {
            if capped.swap(false, Ordering::Relaxed) {
                tc(&["qdisc", "del", "dev", dev, "root"])?;
            }
        }
    }
    Ok(())
}

/// Moves the calling thread into the namespace at `path`.
fn enter(path: &Path) -> io::Result<()> {
    let handle = File::open(path)?;
    // SAFETY: `handle` is an open namespace file for the duration of the call; setns only
    // changes the calling thread's network namespace.
    let rc = unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn require_root() -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        bail!(
            "network namespaces and tc need root (euid is {euid}): run the weak-network tests \
             as root, as CI does (`sudo -E cargo test -p concord-tests ...`)"
        );
    }
    Ok(())
}

/// Finds `name` in `$PATH` or the sbin directories (often missing from a user's `$PATH`).
fn tool(name: &str, package: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!(
                "`{name}` not found: the weak-network tests need it; install Debian's \
                 `{package}` package (`apt-get install {package}`)"
            )
        })
}

/// The nftables table [`Netns::block_udp`] and [`Netns::block_port`] put their rules in.
const UDP_BLOCK_TABLE: &str = "concord_udp_block";

/// The packets of the first `counter packets N bytes M` in `nft list` output.
fn parse_counter_packets(listing: &str) -> Option<u64> {
    let mut words = listing.split_whitespace();
    while let Some(word) = words.next() {
        if word == "counter" && words.next() == Some("packets") {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// Runs a tool, failing with its stderr when it exits non-zero.
fn run<I, S>(program: &Path, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let shown = || {
        let words: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        format!("{} {}", program.display(), words.join(" "))
    };
    let out = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running `{}`", shown()))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            shown(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Deletes `concord-{pid}-{n}` namespaces whose process is gone (a test killed before its
/// Drop ran); their veths go with them.
fn remove_stale_namespaces(ip: &Path) {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, n)| n.parse::<u32>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        // Its root-side veth would block the slot: deleting the namespace deletes the pair
        // unless a process is still inside; take the veth first to be sure.
        if let Ok(out) = run(
            ip,
            ["-n", name.as_str(), "-o", "link", "show", "type", "veth"],
        ) {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                // "12: cw42n@if13: <...>" → the peer is cw42r.
                let iface = line.split(':').nth(1).map(str::trim).unwrap_or_default();
                let iface = iface.split('@').next().unwrap_or_default();
                if let Some(slot) = iface.strip_prefix("cw").and_then(|s| s.strip_suffix('n')) {
                    let _ = run(ip, ["link", "del", format!("cw{slot}r").as_str()]);
                }
            }
        }
        match run(ip, ["netns", "del", name.as_str()]) {
            Ok(_) => eprintln!("netns: removed {name}, left by a test process that is gone"),
            Err(err) => eprintln!("netns: removing stale {name}: {err:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_udp_block_counter_is_read_from_the_listing() {
        let listing = "table inet concord_udp_block {\n\tchain out {\n\t\ttype filter hook \
                       output priority filter; policy accept;\n\t\tmeta l4proto udp counter \
                       packets 42 bytes 5040 drop\n\t}\n}\n";
        assert_eq!(parse_counter_packets(listing), Some(42));
        assert_eq!(parse_counter_packets("table inet x { }"), None);
    }

    #[test]
    fn subnet_membership() {
        assert!(in_subnet(Ipv4Addr::new(10, 213, 7, 1)));
        assert!(!in_subnet(Ipv4Addr::new(10, 214, 0, 1)));
        assert!(!in_subnet(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn qdisc_counters_are_read_from_tc_s() {
        let shown = "qdisc tbf 8001: root refcnt 2 rate 120Kbit burst 10000b lat 100ms \n \
                     Sent 228451 bytes 1702 pkt (dropped 93, overlimits 1204 requeues 0) \n \
                     backlog 9870b 71p requeues 0\n";
        let counters = QdiscCounters::parse(shown).expect("parsed");
        assert_eq!(
            counters,
            QdiscCounters {
                sent_bytes: 228_451,
                sent_packets: 1_702,
                dropped: 93
            }
        );
        assert!(QdiscCounters::parse("qdisc noqueue 0: root refcnt 2").is_err());
    }
}

/// The namespace's filter chains: what leaves it, and what arrives in it.
#[derive(Clone, Copy)]
enum Chain {
    Out,
    In,
}

//! A process's CPU time, memory, threads and open files from `/proc/<pid>/stat`,
//! `/proc/<pid>/status` and `/proc/<pid>/fd`.
//!
//! `stat` fields 14 and 15 (`utime`, `stime`) are the CPU time of every thread of the process,
//! alive or gone, in clock ticks of 1/100 s (USER_HZ is 100 in Linux's user-space ABI).
//! `status` gives `VmRSS` (resident now) and `VmHWM` (the resident peak), in kB, and `Threads`.
//! `fd` has one entry per open file descriptor (sockets, pipes and the database included); a
//! socket's entry links to `socket:[<inode>]`, the inode `net/tcp` lists it by. `io` gives
//! `write_bytes` (bytes the process caused to be written to storage, counted as it dirties
//! page-cache pages: what it wrote to its files, the database included) and `wchar` (bytes
//! passed to `write` and its kin, sockets and pipes included); reading it needs the right to
//! trace the process (the same user, or root).

use anyhow::{anyhow, Context, Result};

/// Clock ticks per second in `/proc/<pid>/stat`.
const USER_HZ: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
    pub rss_kb: u64,
    pub hwm_kb: u64,
    /// From `/proc/<pid>/io`, if it could be read.
    pub io: Option<IoCounters>,
}

/// Counters of `/proc/<pid>/io`, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoCounters {
    pub write_bytes: u64,
    pub wchar: u64,
}

impl ProcSample {
    pub fn cpu_seconds(&self) -> f64 {
        ticks_to_seconds(self.cpu_ticks)
    }
}

pub fn ticks_to_seconds(ticks: u64) -> f64 {
    ticks as f64 / USER_HZ
}

/// Reads `pid` now.
pub fn sample(pid: u32) -> Result<ProcSample> {
    let proc = StatAndStatus::read(pid)?;
    let [utime, stime, _, _] = proc.cpu_fields()?;
    Ok(ProcSample {
        cpu_ticks: utime + stime,
        rss_kb: proc.status_number("VmRSS")?,
        hwm_kb: proc.status_number("VmHWM")?,
        io: std::fs::read_to_string(format!("/proc/{pid}/io"))
            .ok()
            .and_then(|io| parse_io(&io)),
    })
}

/// What a long run watches for leaks: one reading of memory, threads and descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ResourceSample {
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
    /// cutime + cstime: children that have exited (counted when each one ends), clock ticks.
    pub children_cpu_ticks: u64,
    pub rss_kb: u64,
    pub threads: u64,
    pub open_fds: u64,
}

impl ResourceSample {
    pub fn cpu_seconds(&self) -> f64 {
        ticks_to_seconds(self.cpu_ticks)
    }

    pub fn children_cpu_seconds(&self) -> f64 {
        ticks_to_seconds(self.children_cpu_ticks)
    }
}

/// Reads `pid`'s memory, threads, open descriptors and CPU time now.
pub fn resources(pid: u32) -> Result<ResourceSample> {
    let proc = StatAndStatus::read(pid)?;
    let [utime, stime, cutime, cstime] = proc.cpu_fields()?;
    Ok(ResourceSample {
        cpu_ticks: utime + stime,
        children_cpu_ticks: cutime + cstime,
        rss_kb: proc.status_number("VmRSS")?,
        threads: proc.status_number("Threads")?,
        open_fds: count_open_fds(pid)?,
    })
}

/// The texts of `/proc/<pid>/stat` and `/proc/<pid>/status`, kept with their paths so that a
/// field missing from either names the file it is missing from.
struct StatAndStatus {
    stat_path: String,
    stat: String,
    status_path: String,
    status: String,
}

impl StatAndStatus {
    fn read(pid: u32) -> Result<Self> {
        let stat_path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&stat_path)
            .with_context(|| format!("reading {stat_path} (has the process exited?)"))?;
        let status_path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&status_path)
            .with_context(|| format!("reading {status_path}"))?;
        Ok(StatAndStatus {
            stat_path,
            stat,
            status_path,
            status,
        })
    }

    /// utime, stime, cutime, cstime (see [`parse_cpu_fields`]).
    fn cpu_fields(&self) -> Result<[u64; 4]> {
        parse_cpu_fields(&self.stat)
            .ok_or_else(|| anyhow!("unexpected format of {}: {}", self.stat_path, self.stat))
    }

    /// The number on the `key` line of `status` (see [`parse_status_number`]).
    fn status_number(&self, key: &str) -> Result<u64> {
        parse_status_number(&self.status, key)
            .ok_or_else(|| anyhow!("no {key} in {}", self.status_path))
    }
}

/// Entries of `/proc/<pid>/fd`: the process's open file descriptors. Listing it needs the right
/// to trace the process (the same user, or root).
pub fn count_open_fds(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&path).with_context(|| format!("listing {path}"))?;
    let mut count = 0;
    for entry in entries {
        entry.with_context(|| format!("listing {path}"))?;
        count += 1;
    }
    Ok(count)
}

/// TCP connections `pid` holds ESTABLISHED on its own `local_port` (a server's side of the
/// connections accepted on that port). `/proc/<pid>/net/tcp` and `tcp6` list every socket of
/// the process's network namespace; only those whose inode is one of `pid`'s descriptors count.
pub fn established_tcp_connections(pid: u32, local_port: u16) -> Result<usize> {
    let fd_dir = format!("/proc/{pid}/fd");
    let mut inodes = std::collections::HashSet::new();
    for entry in std::fs::read_dir(&fd_dir).with_context(|| format!("listing {fd_dir}"))? {
        // A descriptor closed between listing and reading is simply gone.
        let Ok(target) = entry.and_then(|e| std::fs::read_link(e.path())) else {
            continue;
        };
        if let Some(inode) = socket_inode(&target.to_string_lossy()) {
            inodes.insert(inode);
        }
    }
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let path = format!("/proc/{pid}/net/{table}");
        // No IPv6 in the kernel: no tcp6 table.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        count += text
            .lines()
            .skip(1)
            .filter_map(parse_tcp_row)
            .filter(|row| {
                row.state == TCP_ESTABLISHED
                    && row.local_port == local_port
                    && inodes.contains(&row.inode)
            })
            .count();
    }
    Ok(count)
}

/// The `st` column of `net/tcp` for an established connection (`TCP_ESTABLISHED` in the
/// kernel's `tcp_states.h`).
const TCP_ESTABLISHED: u8 = 0x01;

/// What a row of `/proc/<pid>/net/tcp` says of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TcpRow {
    local_port: u16,
    state: u8,
    inode: u64,
}

/// `  0: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0
/// 4242 …`: the local address and port (hex), the remote, the state (hex), queues, timers,
/// retransmits, uid, timeout, inode.
fn parse_tcp_row(row: &str) -> Option<TcpRow> {
    let mut fields = row.split_whitespace();
    let local = fields.nth(1)?;
    let state = fields.nth(1)?;
    let inode = fields.nth(5)?;
    let (_, port) = local.rsplit_once(':')?;
    Some(TcpRow {
        local_port: u16::from_str_radix(port, 16).ok()?,
        state: u8::from_str_radix(state, 16).ok()?,
        inode: inode.parse().ok()?,
    })
}

/// The inode of a `/proc/<pid>/fd` link to `socket:[<inode>]`.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// `write_bytes` and `wchar` from the text of `/proc/<pid>/io`.
pub fn parse_io(io: &str) -> Option<IoCounters> {
    let field = |key: &str| {
        io.lines().find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            value.trim().parse().ok()
        })
    };
    Some(IoCounters {
        write_bytes: field("write_bytes")?,
        wchar: field("wchar")?,
    })
}

/// utime + stime from the text of `/proc/<pid>/stat`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let [utime, stime, _, _] = parse_cpu_fields(stat)?;
    Some(utime + stime)
}

/// cutime + cstime from the text of `/proc/<pid>/stat`: the CPU time of the process's children
/// that have exited and been waited for (a server's ffmpeg runs, once each one ends).
pub fn parse_children_cpu_ticks(stat: &str) -> Option<u64> {
    let [_, _, cutime, cstime] = parse_cpu_fields(stat)?;
    Some(cutime + cstime)
}

/// Fields 14 to 17 of `/proc/<pid>/stat`: utime, stime, cutime, cstime.
fn parse_cpu_fields(stat: &str) -> Option<[u64; 4]> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself:
    // the fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state), so utime (14) is its 12th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let cutime: u64 = fields.next()?.parse().ok()?;
    let cstime: u64 = fields.next()?.parse().ok()?;
    Some([utime, stime, cutime, cstime])
}

/// The value in kB of a `Key:   1234 kB` line of `/proc/<pid>/status`.
pub fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    parse_status_number(status, key)
}

/// The number of a `Key:   1234 kB` or `Key:\t12` line of `/proc/<pid>/status`.
pub fn parse_status_number(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_survive_odd_command_names() {
        // Fields 14 and 15 are 250 and 40; the name holds a space and a ')'.
        let stat = "4242 (janus (x) y) S 1 4242 4242 0 -1 4194560 2000 0 3 0 250 40 0 0 20 0 \
                    12 0 123456 456789 1234 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(290));
        assert_eq!(parse_children_cpu_ticks(stat), Some(0));
        // Fields 16 and 17, the children's, are 7 and 5.
        let with_children = "4242 (concord) S 1 4242 4242 0 -1 4194560 2000 0 3 0 250 40 7 5 20 0";
        assert_eq!(parse_children_cpu_ticks(with_children), Some(12));
        assert_eq!(parse_cpu_ticks(with_children), Some(290));
        assert_eq!(parse_cpu_ticks("4242 (cut short) S 1 2"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn status_values_in_kb() {
        let status = "Name:\tjanus\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t12\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(40960));
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(51200));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
        // A key that is a prefix of another is not confused with it.
        assert_eq!(parse_status_kb("VmRSSx:\t1 kB\n", "VmRSS"), None);
        assert_eq!(parse_status_number(status, "Threads"), Some(12));
    }

    #[test]
    fn io_counters_by_name() {
        let io = "rchar: 6976\nwchar: 4096\nsyscr: 10\nsyscw: 2\nread_bytes: 0\n\
                  write_bytes: 8192\ncancelled_write_bytes: 4096\n";
        let counters = parse_io(io).expect("counters");
        // `cancelled_write_bytes` is not taken for `write_bytes`.
        assert_eq!(counters.write_bytes, 8192);
        assert_eq!(counters.wchar, 4096);
        assert_eq!(parse_io("rchar: 1\n"), None);
    }

    #[test]
    fn tcp_rows_give_port_state_and_inode() {
        let established = "   3: 0100007F:9C41 0100007F:D2A4 01 00000000:00000000 00:00000000 \
                           00000000     0        0 48213 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(
            parse_tcp_row(established),
            Some(TcpRow {
                local_port: 0x9C41,
                state: TCP_ESTABLISHED,
                inode: 48213
            })
        );
        let listening = "   0: 0100007F:9C41 00000000:0000 0A 00000000:00000000 00:00000000 \
                         00000000     0        0 48100 1 0000000000000000 100 0 0 10 0";
        assert_eq!(parse_tcp_row(listening).map(|r| r.state), Some(0x0A));
        let ipv6 = "   1: 00000000000000000000000001000000:9C41 \
                    00000000000000000000000001000000:D2A4 01 00000000:00000000 00:00000000 \
                    00000000     0        0 777 1";
        assert_eq!(
            parse_tcp_row(ipv6).map(|r| (r.local_port, r.inode)),
            Some((0x9C41, 777))
        );
        assert_eq!(parse_tcp_row("  sl  local_address rem_address   st"), None);
        assert_eq!(socket_inode("socket:[48213]"), Some(48213));
        assert_eq!(socket_inode("pipe:[48213]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn this_process_s_accepted_connection_is_counted_on_its_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = listener.local_addr().expect("address").port();
        let me = std::process::id();
        assert_eq!(established_tcp_connections(me, port).expect("count"), 0);
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (_accepted, _) = listener.accept().expect("accept");
        // Our accepted side is on `port`; the client's side (also ours) is not.
        assert_eq!(established_tcp_connections(me, port).expect("count"), 1);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample(std::process::id()).expect("sample /proc/self");
        assert!(me.rss_kb > 0 && me.hwm_kb >= me.rss_kb);
        assert!(me.io.is_some(), "a process may read its own /proc/<pid>/io");
        let resources = resources(std::process::id()).expect("resources of /proc/self");
        assert!(resources.threads >= 1 && resources.rss_kb > 0);
        // At least the standard streams, or whatever the harness left open instead.
        assert!(resources.open_fds >= 1, "{resources:?}");
    }
}

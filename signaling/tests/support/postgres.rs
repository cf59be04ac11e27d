//! A throwaway PostgreSQL server for tests, run from Debian's binaries (package `postgresql`,
//! `/usr/lib/postgresql/<version>/bin/`).
//!
//! [`shared()`] starts one server per test binary on first use: `initdb -A trust` into a temp
//! dir, `pg_ctl start` listening on 127.0.0.1 only (a free port, the Unix socket inside the temp
//! dir), then waits until it accepts connections. Each test takes a fresh database from
//! [`Postgres::create_database`]. The server runs as the `postgres` user when the tests run as
//! root (PostgreSQL refuses root), otherwise as the current user.
//!
//! Stopping: a small watchdog shell holds the read end of a pipe whose write end only this
//! process has. When the [`Postgres`] value is dropped, or when the test process exits in any
//! way (a static is never dropped; a killed process runs no destructor), the pipe closes and the
//! watchdog runs `pg_ctl stop -m immediate` and removes the temp dir.
//!
//! The databases sort text with a linguistic collation (ICU's root locale, as a production
//! cluster created under en_US.UTF-8 or zh_CN.UTF-8 would), not byte order like SQLite: a query
//! whose result order depends on the collation shows up in tests.
//!
//! Missing binaries are a failure with a clear message, never a silent skip.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant};

const INSTALL_HINT: &str =
    "install Debian's postgresql; .ci/run does (apt-get install -y postgresql)";
const BIN_ROOT: &str = "/usr/lib/postgresql";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const PORT_ATTEMPTS: usize = 5;
const MIN_VERSION: u32 = 15;

/// A running PostgreSQL server private to this test process.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
    next_database: AtomicU32,
    /// The watchdog; closing its stdin stops the server and removes `dir`.
    watchdog: Mutex<Option<Child>>,
}

/// The server shared by every test of this binary, started on first use. Panics with the reason
/// (for example missing binaries) in every test that asks for it, if it cannot start.
pub fn shared() -> &'static Postgres {
    static SERVER: OnceLock<Result<Postgres, String>> = OnceLock::new();
    match SERVER.get_or_init(Postgres::start) {
        Ok(server) => server,
        Err(reason) => panic!("PostgreSQL test server unavailable: {reason}"),
    }
}

impl Postgres {
    /// Starts a new server (prefer [`shared()`]: one server per test binary).
    pub fn start() -> Result<Postgres, String> {
        let bin = find_binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("concord-pg-")
            // Not $TMPDIR: the `postgres` user must reach it, and the Unix socket path inside
            // must stay under 108 bytes.
            .tempdir_in("/tmp")
            .map_err(|e| format!("cannot create a temp dir: {e}"))?
            .keep();
        let owner = fs::metadata(&dir)
            .map_err(|e| format!("cannot stat {}: {e}", dir.display()))?
            .uid();
        let as_postgres_user = owner == 0;
        let watchdog = spawn_watchdog(&bin, &dir, as_postgres_user).inspect_err(|_| {
            let _ = fs::remove_dir_all(&dir);
        })?;
        // From here on, dropping `server` stops whatever was started and removes `dir`.
        let mut server = Postgres {
            bin,
            dir,
            port: 0,
            as_postgres_user,
            next_database: AtomicU32::new(0),
            watchdog: Mutex::new(Some(watchdog)),
        };
        if as_postgres_user {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(&server.dir))?;
        }
        run(server
            .server_command("initdb")
            .arg("-D")
            .arg(server.data_dir())
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .args([
                "--locale=C.UTF-8",
                "--locale-provider=icu",
                "--icu-locale=und",
            ]))?;
        server.port = server.start_on_free_port()?;
        server.wait_until_accepting()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database and returns its `postgres://` URL (superuser `postgres`, no
    /// password: the server trusts 127.0.0.1).
    pub fn create_database(&self) -> String {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("concord_test_{n}");
        let created = run(Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(self.port.to_string())
            .arg(&name));
        if let Err(reason) = created {
            panic!("cannot create test database {name}: {reason}");
        }
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// `initdb` and `pg_ctl` refuse to run as root: run them as `postgres` then.
    fn server_command(&self, program: &str) -> Command {
        server_command(&self.bin, program, self.as_postgres_user)
    }

    fn start_on_free_port(&self) -> Result<u16, String> {
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                self.dir.display()
            );
            let started = run(self
                .server_command("pg_ctl")
                .arg("start")
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file())
                .args(["-w", "-t", "60", "-o", &options]));
            match started {
                Ok(()) => return Ok(port),
                Err(reason) => {
                    let log = fs::read_to_string(self.log_file()).unwrap_or_default();
                    last_error = format!("{reason}\nserver log:\n{}", tail(&log, 20));
                    // Another process took the port between our probe and the server's bind.
                    if !log.contains("could not bind") && !log.contains("already in use") {
                        break;
                    }
                }
            }
        }
        Err(format!("pg_ctl start failed: {last_error}"))
    }

    fn wait_until_accepting(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(self.port.to_string())
                .status()
                .map_err(|e| format!("cannot run pg_isready: {e}"))?;
            if ready.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = fs::read_to_string(self.log_file()).unwrap_or_default();
                return Err(format!(
                    "server on port {} not accepting connections after {READY_TIMEOUT:?}\n{}",
                    self.port,
                    tail(&log, 20)
                ));
            }
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postgres {
    /// Stops the server (`pg_ctl stop -m immediate`) and removes its temp dir, via the watchdog.
    fn drop(&mut self) {
        let watchdog = self
            .watchdog
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(mut watchdog) = watchdog {
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has the server binaries.
fn find_binaries() -> Result<PathBuf, String> {
    let missing =
        || format!("no PostgreSQL server binaries in {BIN_ROOT}/<version>/bin: {INSTALL_HINT}");
    let entries = fs::read_dir(BIN_ROOT).map_err(|_| missing())?;
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            let complete = ["initdb", "pg_ctl", "postgres", "createdb", "pg_isready"]
                .iter()
                .all(|program| bin.join(program).is_file());
            complete.then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .ok_or_else(missing)
        .and_then(|(version, bin)| {
            // `initdb --locale-provider=icu` is new in 15.
            if version < MIN_VERSION {
                return Err(format!(
                    "PostgreSQL {version} in {}: {MIN_VERSION} or newer needed; {INSTALL_HINT}",
                    bin.display()
                ));
            }
            Ok(bin)
        })
}

fn server_command(bin: &Path, program: &str, as_postgres_user: bool) -> Command {
    let mut command = if as_postgres_user {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    };
    // Run from `/`: `postgres` cannot read the current directory when it is e.g. root's home.
    command.current_dir("/");
    command
}

/// `sh` waits for EOF on its stdin (this process closed the pipe or exited), then stops the
/// server and removes the temp dir. It runs in its own process group and ignores the usual
/// termination signals, so a Ctrl-C that kills the tests (the server itself is detached by
/// `pg_ctl`) still ends with the server stopped.
fn spawn_watchdog(bin: &Path, dir: &Path, as_postgres_user: bool) -> Result<Child, String> {
    let stop = server_command(bin, "pg_ctl", as_postgres_user);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(concat!(
            "trap '' HUP INT QUIT TERM; cat >/dev/null; ",
            r#""$@" stop -D "$PG_DIR/data" -m immediate; rm -rf -- "$PG_DIR""#
        ))
        .arg("concord-pg-watchdog")
        .arg(stop.get_program())
        .args(stop.get_args())
        .env("PG_DIR", dir)
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Nothing is ever written to its stdin: the pipe only signals our exit.
    command
        .spawn()
        .map_err(|e| format!("cannot start the watchdog shell: {e}"))
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn run(command: &mut Command) -> Result<(), String> {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "{:?} {:?} exited with {status}\n{}{}",
        command.get_program(),
        command.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    ))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

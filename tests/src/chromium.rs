//! A minimal Chrome DevTools Protocol driver: launch headless Chromium, open pages in separate
//! browser contexts (so cookies do not mix), evaluate JavaScript, wait for conditions.
//!
//! The browser is killed when [`Browser`] is dropped.
//!
//! [`Browser::launch_in_netns`] starts it inside a [`Netns`] (one impaired participant): its
//! DevTools port is then on the namespace's own 127.0.0.1, which the test process reaches by
//! connecting from a thread that entered the namespace (the socket stays there).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::netns::Netns;

/// Where Debian's `chromium` package puts the real binary (not the `/usr/bin` wrapper script).
pub const CHROMIUM_PATH: &str = "/usr/lib/chromium/chromium";
/// Environment variable overriding [`CHROMIUM_PATH`].
pub const CHROMIUM_ENV: &str = "CONCORD_CHROMIUM";

/// How long Chromium may take to print its DevTools address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening the DevTools connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one CDP command may take (an awaited promise counts as one command).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of Chromium's stderr and of each page's console kept for failure messages.
const TAIL_LINES: usize = 60;

/// The flags measured to work on this machine (FIELD-NOTES), minus the profile and port.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pings",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--remote-debugging-port=0",
];

/// The Chromium binary to run: `$CONCORD_CHROMIUM` or [`CHROMIUM_PATH`]. Fails with a message
/// saying how to install it (the browser tests must not skip silently).
pub fn chromium_path() -> Result<String> {
    let path = std::env::var(CHROMIUM_ENV).unwrap_or_else(|_| CHROMIUM_PATH.to_owned());
    if !Path::new(&path).is_file() {
        bail!(
            "Chromium not found at {path}. The browser tests need it: install Debian's \
             `chromium` package (`apt-get install chromium`), or set {CHROMIUM_ENV} to the \
             real Chromium binary (not a wrapper script)."
        );
    }
    Ok(path)
}

/// The flag that makes Chromium treat `origins` (e.g. `http://10.213.4.1:41234`) as secure
/// contexts: a page served over plain HTTP from anywhere but 127.0.0.1/localhost otherwise gets
/// no `navigator.mediaDevices`, so it cannot publish. (Needs a `--user-data-dir`, which every
/// [`Browser`] has.)
pub fn secure_origin_flag(origins: &[&str]) -> String {
    format!(
        "--unsafely-treat-insecure-origin-as-secure={}",
        origins.join(",")
    )
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value>>>>>;

/// One DevTools WebSocket connection, shared by the browser and its pages.
struct Cdp {
    out: mpsc::UnboundedSender<String>,
    next_id: AtomicU64,
    pending: Pending,
    events: broadcast::Sender<Value>,
    task: JoinHandle<()>,
}

impl Cdp {
    async fn connect(ws_url: &str) -> Result<Cdp> {
        let (ws, _) =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(ws_url))
                .await
                .context("timed out connecting to DevTools")?
                .with_context(|| format!("connecting to DevTools at {ws_url}"))?;
        Ok(Self::run(ws))
    }

    /// Connects to a DevTools endpoint inside `netns`: the TCP connection is opened from a
    /// thread in the namespace (the browser's 127.0.0.1 is the namespace's, unreachable from
    /// here), then used from this process's runtime like any other.
    async fn connect_in(netns: &Netns, ws_url: &str) -> Result<Cdp> {
        let request = ws_url
            .into_client_request()
            .with_context(|| format!("parsing the DevTools address {ws_url}"))?;
        let host = request.uri().host().unwrap_or_default();
        let port = request.uri().port_u16().unwrap_or(80);
        let addr: std::net::SocketAddr = format!("{host}:{port}")
            .parse()
            .with_context(|| format!("DevTools is not on an IP address: {ws_url}"))?;
        let stream = netns.tcp_connect(addr, CONNECT_TIMEOUT).await?;
        stream
            .set_nonblocking(true)
            .context("making the DevTools socket non-blocking")?;
        let stream = tokio::net::TcpStream::from_std(stream)
            .context("handing the DevTools socket to tokio")?;
        let (ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::client_async(request, stream),
        )
        .await
        .context("timed out opening the DevTools WebSocket")?
        .with_context(|| {
            format!(
                "opening the DevTools WebSocket {ws_url} in {}",
                netns.name()
            )
        })?;
        Ok(Self::run(ws))
    }

    /// Serves CDP over an open WebSocket: one task matches replies to calls and broadcasts
    /// events.
    fn run<S>(ws: WebSocketStream<S>) -> Cdp
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let (events, _) = broadcast::channel(1024);

        let task = {
            let pending = Arc::clone(&pending);
            let events = events.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        frame = stream.next() => {
                            let text = match frame {
                                Some(Ok(Message::Text(text))) => text,
                                Some(Ok(_)) => continue,
                                None | Some(Err(_)) => break,
                            };
                            let Ok(msg) = serde_json::from_str::<Value>(text.as_str()) else {
                                continue;
                            };
                            if let Some(id) = msg.get("id").and_then(Value::as_u64) {
                                let waiter = pending.lock().ok().and_then(|mut p| p.remove(&id));
                                if let Some(waiter) = waiter {
                                    let result = match msg.get("error") {
                                        Some(err) => Err(anyhow!("CDP error: {err}")),
                                        None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
                                    };
                                    let _ = waiter.send(result);
                                }
                            } else {
                                let _ = events.send(msg);
                            }
                        }
                        cmd = out_rx.recv() => match cmd {
                            Some(text) => {
                                if sink.send(Message::text(text)).await.is_err() {
                                    break;
                                }
                            }
                            None => break,
                        },
                    }
                }
                // Fail every command still waiting.
                if let Ok(mut pending) = pending.lock() {
                    for (_, waiter) in pending.drain() {
                        let _ = waiter.send(Err(anyhow!("DevTools connection closed")));
                    }
                }
            })
        };
        Cdp {
            out: out_tx,
            next_id: AtomicU64::new(1),
            pending,
            events,
            task,
        }
    }

    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            msg["sessionId"] = Value::String(session.to_owned());
        }
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| anyhow!("CDP state poisoned"))?
            .insert(id, tx);
        self.out
            .send(msg.to_string())
            .map_err(|_| anyhow!("DevTools connection closed"))?;
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(result)) => result.with_context(|| format!("{method} failed")),
            Ok(Err(_)) => bail!("DevTools connection closed during {method}"),
            Err(_) => {
                if let Ok(mut p) = self.pending.lock() {
                    p.remove(&id);
                }
                bail!("{method} timed out after {COMMAND_TIMEOUT:?}")
            }
        }
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A headless Chromium process with a fresh profile.
pub struct Browser {
    cdp: Arc<Cdp>,
    child: Child,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_task: JoinHandle<()>,
    // Removed after the process is killed (fields drop in order).
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Launches Chromium with the flags in [`FLAGS`] and connects to its DevTools endpoint.
    pub async fn launch() -> Result<Browser> {
        Self::launch_with(&[]).await
    }

    /// Like [`Browser::launch`], with extra command-line flags.
    pub async fn launch_with(extra_flags: &[&str]) -> Result<Browser> {
        Self::launch_inner(None, extra_flags).await
    }

    /// Launches Chromium inside `netns` (`ip netns exec`), so all its traffic crosses the
    /// namespace's veth and its caps; pages reach a server bound on [`Netns::root_addr`].
    /// Close (or drop) the browser before the namespace.
    ///
    /// Pages served over plain HTTP from a veth address are not a secure context (no camera,
    /// no microphone): pass [`secure_origin_flag`] for the server's origin.
    pub async fn launch_in_netns(netns: &Netns, extra_flags: &[&str]) -> Result<Browser> {
        Self::launch_inner(Some(netns), extra_flags).await
    }

    async fn launch_inner(netns: Option<&Netns>, extra_flags: &[&str]) -> Result<Browser> {
        let path = chromium_path()?;
        let profile = tempfile::Builder::new()
            .prefix("concord-chromium-")
            .tempdir()
            .context("creating a Chromium profile directory")?;
        let mut command = match netns {
            // `ip netns exec` execs Chromium in place: the child is Chromium itself.
            Some(netns) => netns.command(&path),
            None => Command::new(&path),
        };
        let mut child = command
            .args(FLAGS)
            .args(extra_flags)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {path}"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow!("Chromium's stderr is not piped"))?;
        let mut lines = BufReader::new(stderr).lines();
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));

        let ws_url = {
            let tail = Arc::clone(&stderr_tail);
            let find = async {
                while let Some(line) = lines.next_line().await? {
                    if let Some(url) = line.trim().strip_prefix("DevTools listening on ") {
                        return Ok::<_, anyhow::Error>(Some(url.trim().to_owned()));
                    }
                    push_tail(&tail, line);
                }
                Ok(None)
            };
            match tokio::time::timeout(LAUNCH_TIMEOUT, find).await {
                Ok(Ok(Some(url))) => url,
                Ok(Ok(None)) => bail!(
                    "Chromium exited before printing its DevTools address; stderr: {:?}",
                    tail_of(&stderr_tail)
                ),
                Ok(Err(err)) => bail!("reading Chromium's stderr: {err}"),
                Err(_) => bail!(
                    "Chromium did not print its DevTools address within {LAUNCH_TIMEOUT:?}; \
                     stderr: {:?}",
                    tail_of(&stderr_tail)
                ),
            }
        };

        // Keep draining stderr: a full pipe would block Chromium.
        let stderr_task = {
            let tail = Arc::clone(&stderr_tail);
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    push_tail(&tail, line);
                }
            })
        };

        let cdp = match netns {
            Some(netns) => Cdp::connect_in(netns, &ws_url).await?,
            None => Cdp::connect(&ws_url).await?,
        };
        let cdp = Arc::new(cdp);
        Ok(Browser {
            cdp,
            child,
            stderr_tail,
            stderr_task,
            _profile: profile,
        })
    }

    /// The browser's version string (`Browser.getVersion`).
    pub async fn version(&self) -> Result<String> {
        let v = self.cdp.call(None, "Browser.getVersion", json!({})).await?;
        Ok(v.get("product")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Opens `url` in a new page with its own browser context (its own cookies and storage).
    pub async fn new_page(&self, url: &str) -> Result<Page> {
        let context = self
            .cdp
            .call(
                None,
                "Target.createBrowserContext",
                json!({"disposeOnDetach": true}),
            )
            .await?;
        let context_id = str_field(&context, "browserContextId")?;
        let target = self
            .cdp
            .call(
                None,
                "Target.createTarget",
                json!({"url": "about:blank", "browserContextId": context_id}),
            )
            .await?;
        let target_id = str_field(&target, "targetId")?;
        let attached = self
            .cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        let session_id = str_field(&attached, "sessionId")?;

        let console = Arc::new(Mutex::new(VecDeque::new()));
        let console_task = tokio::spawn(collect_console(
            self.cdp.events.subscribe(),
            session_id.clone(),
            Arc::clone(&console),
        ));
        let page = Page {
            cdp: Arc::clone(&self.cdp),
            session_id,
            target_id,
            console,
            console_task,
        };
        page.call("Runtime.enable", json!({})).await?;
        page.call("Page.enable", json!({})).await?;
        // Behave as a focused, visible page even though several share one headless browser.
        page.call(
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        )
        .await?;
        page.navigate(url).await?;
        Ok(page)
    }

    /// The last lines Chromium wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        tail_of(&self.stderr_tail)
    }
}

impl Browser {
    /// Closes Chromium gracefully (`Browser.close`, so its helper processes exit too), waits
    /// for it to exit, then removes its profile.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.cdp.call(None, "Browser.close", json!({})),
        )
        .await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        }
    }
}

impl Drop for Browser {
    /// The fallback when [`Browser::close`] was not called (a failing test): kill the process
    /// and give it a moment to go before the profile directory is removed.
    fn drop(&mut self) {
        self.stderr_task.abort();
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.start_kill();
            for _ in 0..100 {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// One page (a target attached with `flatten: true`, in its own browser context).
pub struct Page {
    cdp: Arc<Cdp>,
    session_id: String,
    target_id: String,
    console: Arc<Mutex<VecDeque<String>>>,
    console_task: JoinHandle<()>,
}

impl Page {
    /// Sends a CDP command to this page's session.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.cdp.call(Some(&self.session_id), method, params).await
    }

    pub fn target_id(&self) -> &str {
        &self.target_id
    }

    /// Shows the page at `width` × `height` CSS pixels (a laptop screen, say, so that a whole
    /// room's tiles are on screen: the client sends no video to tiles nobody can see).
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await
        .map(|_| ())
    }

    /// Navigates and waits for the document to finish loading.
    pub async fn navigate(&self, url: &str) -> Result<()> {
        let result = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(err) = result.get("errorText").and_then(Value::as_str) {
            if !err.is_empty() {
                bail!("navigating to {url}: {err}");
            }
        }
        self.wait_for("document.readyState === 'complete'", COMMAND_TIMEOUT)
            .await
            .with_context(|| format!("loading {url}"))?;
        Ok(())
    }

    /// Evaluates `expression` (awaiting it if it is a promise) and returns its value as JSON
    /// (`undefined` becomes `null`). A thrown exception is an error carrying its description.
    pub async fn evaluate(&self, expression: &str) -> Result<Value> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "awaitPromise": true,
                    "returnByValue": true,
                    "userGesture": true,
                }),
            )
            .await?;
        if let Some(details) = result.get("exceptionDetails") {
            let description = details
                .pointer("/exception/description")
                .and_then(Value::as_str)
                .or_else(|| details.get("text").and_then(Value::as_str))
                .unwrap_or("exception");
            bail!("JavaScript threw: {description}");
        }
        Ok(result
            .pointer("/result/value")
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Evaluates `expression` until it is truthy (not `null`, `false`, `0`, `""`), at most every
    /// 250 ms, and returns that value. Exceptions count as "not yet". Fails after `timeout` with
    /// the last value or exception and the page's recent console output.
    pub async fn wait_for(&self, expression: &str, timeout: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = String::from("(not evaluated)");
        loop {
            tick.tick().await;
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                bail!(
                    "timed out after {timeout:?} waiting for `{expression}`; last result: {last}; \
                     console: {:?}",
                    self.console()
                );
            }
            match tokio::time::timeout(remaining, self.evaluate(expression)).await {
                Ok(Ok(value)) if truthy(&value) => return Ok(value),
                Ok(Ok(value)) => last = value.to_string(),
                Ok(Err(err)) => last = format!("{err:#}"),
                Err(_) => last = "evaluation did not finish".to_owned(),
            }
        }
    }

    /// Clicks the first element matching `selector`, as a user would: it must exist and not be
    /// disabled.
    pub async fn click(&self, selector: &str) -> Result<()> {
        let selector_js = serde_json::to_string(selector)?;
        let outcome = self
            .evaluate(&format!(
                "(() => {{ const el = document.querySelector({selector_js}); \
                 if (!el) return 'missing'; if (el.disabled) return 'disabled'; \
                 el.click(); return 'clicked'; }})()"
            ))
            .await?;
        match outcome.as_str() {
            Some("clicked") => Ok(()),
            Some("disabled") => bail!("{selector} is disabled"),
            _ => bail!("no element matches {selector}"),
        }
    }

    /// Waits until an element matching `selector` exists and is enabled, then clicks it.
    pub async fn wait_and_click(&self, selector: &str, timeout: Duration) -> Result<()> {
        let selector_js = serde_json::to_string(selector)?;
        self.wait_for(
            &format!(
                "(() => {{ const el = document.querySelector({selector_js}); \
                 return !!el && !el.disabled; }})()"
            ),
            timeout,
        )
        .await?;
        self.click(selector).await
    }

    /// The page's recent console messages and uncaught exceptions.
    pub fn console(&self) -> Vec<String> {
        tail_of(&self.console)
    }

    /// Closes the page.
    pub async fn close(self) -> Result<()> {
        self.cdp
            .call(
                None,
                "Target.closeTarget",
                json!({"targetId": self.target_id}),
            )
            .await?;
        Ok(())
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.console_task.abort();
    }
}

async fn collect_console(
    mut events: broadcast::Receiver<Value>,
    session_id: String,
    console: Arc<Mutex<VecDeque<String>>>,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if event.get("sessionId").and_then(Value::as_str) != Some(session_id.as_str()) {
            continue;
        }
        let line = match event.get("method").and_then(Value::as_str) {
            Some("Runtime.consoleAPICalled") => {
                let level = event
                    .pointer("/params/type")
                    .and_then(Value::as_str)
                    .unwrap_or("log");
                let args: Vec<String> = event
                    .pointer("/params/args")
                    .and_then(Value::as_array)
                    .map(|args| {
                        args.iter()
                            .map(|a| match a.get("value") {
                                Some(Value::String(s)) => s.clone(),
                                Some(v) => v.to_string(),
                                None => a
                                    .get("description")
                                    .and_then(Value::as_str)
                                    .unwrap_or("?")
                                    .to_owned(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!("{level}: {}", args.join(" "))
            }
            Some("Runtime.exceptionThrown") => {
                let details = event
                    .pointer("/params/exceptionDetails/exception/description")
                    .or_else(|| event.pointer("/params/exceptionDetails/text"))
                    .and_then(Value::as_str)
                    .unwrap_or("exception");
                format!("uncaught: {details}")
            }
            _ => continue,
        };
        push_tail(&console, line);
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn str_field(value: &Value, field: &str) -> Result<String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("CDP reply has no `{field}`: {value}"))
}

fn push_tail(tail: &Mutex<VecDeque<String>>, line: String) {
    if let Ok(mut tail) = tail.lock() {
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

fn tail_of(tail: &Mutex<VecDeque<String>>) -> Vec<String> {
    tail.lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default()
}

//! The Chrome DevTools Protocol driver itself works against this machine's Chromium: pages load,
//! JavaScript evaluates, the fake camera and microphone are there, and pages do not share
//! cookies. Needs `/usr/lib/chromium/chromium` (Debian's `chromium`); fails, not skips, without.

use std::time::Duration;

use concord_tests::chromium::Browser;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const T: Duration = Duration::from_secs(30);

/// Serves `html` for every request on 127.0.0.1 (a secure context, unlike `data:` URLs).
async fn serve_html(html: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port for the test page");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = stream.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://127.0.0.1:{}/", addr.port()), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_evaluates_javascript_in_a_data_url_page() {
    let browser = Browser::launch().await.expect("launch Chromium");
    assert!(
        browser
            .version()
            .await
            .expect("Browser.getVersion")
            .contains("Chrome"),
        "DevTools answers Browser.getVersion"
    );
    let page = browser
        .new_page("data:text/html,<title>hello</title><p id=x>hi</p>")
        .await
        .expect("open a data: page");

    assert_eq!(page.evaluate("1+1").await.expect("evaluate 1+1"), json!(2));
    assert_eq!(
        page.evaluate("document.title").await.expect("title"),
        json!("hello")
    );
    assert_eq!(
        page.evaluate("Promise.resolve({a: [1, 'b']})")
            .await
            .expect("awaited promise"),
        json!({"a": [1, "b"]}),
        "promises are awaited and objects returned by value"
    );
    let err = page
        .evaluate("(() => { throw new Error('boom') })()")
        .await
        .expect_err("a thrown exception is an error");
    assert!(format!("{err:#}").contains("boom"), "{err:#}");

    // wait_for: a condition that becomes true later, and one that never does.
    page.evaluate("setTimeout(() => { window.ready = 42 }, 300); true")
        .await
        .expect("schedule");
    assert_eq!(
        page.wait_for("window.ready", T).await.expect("wait_for"),
        json!(42)
    );
    let err = page
        .wait_for("window.never", Duration::from_millis(800))
        .await
        .expect_err("wait_for times out");
    assert!(format!("{err:#}").contains("timed out"), "{err:#}");

    page.click("#x").await.expect("click an existing element");
    assert!(page.click("#missing").await.is_err(), "no such element");
    page.evaluate(
        "const b = document.createElement('button'); b.id = 'later'; b.disabled = true; \
         b.onclick = () => { window.clicked = true }; document.body.append(b); \
         setTimeout(() => { b.disabled = false }, 300); true",
    )
    .await
    .expect("add a button that is enabled later");
    assert!(
        page.click("#later").await.is_err(),
        "a disabled button is not clicked"
    );
    page.wait_and_click("#later", T)
        .await
        .expect("wait until enabled, then click");
    assert_eq!(
        page.evaluate("window.clicked === true")
            .await
            .expect("eval"),
        json!(true)
    );
    drop(page);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_fake_camera_and_microphone_are_available() {
    let (url, server) = serve_html("<title>media</title>").await;
    let browser = Browser::launch().await.expect("launch Chromium");
    let page = browser.new_page(&url).await.expect("open the local page");
    assert_eq!(
        page.evaluate("window.isSecureContext").await.expect("eval"),
        json!(true),
        "127.0.0.1 is a secure context"
    );
    let kinds = page
        .evaluate(
            "navigator.mediaDevices.getUserMedia({audio: true, video: {width: 640, height: 360}})
               .then(s => s.getTracks().map(t => t.kind + ':' + t.readyState).sort())",
        )
        .await
        .expect("getUserMedia with the fake devices");
    assert_eq!(kinds, json!(["audio:live", "video:live"]));
    drop(page);
    browser.close().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_pages_have_separate_cookie_jars() {
    let (url, server) = serve_html("<title>cookies</title>").await;
    let browser = Browser::launch().await.expect("launch Chromium");
    let a = browser.new_page(&url).await.expect("page a");
    let b = browser.new_page(&url).await.expect("page b");
    a.evaluate("document.cookie = 'who=a; path=/'; document.cookie")
        .await
        .expect("set a cookie in page a");
    assert_eq!(
        a.evaluate("document.cookie").await.expect("eval"),
        json!("who=a")
    );
    assert_eq!(
        b.evaluate("document.cookie").await.expect("eval"),
        json!(""),
        "page b is in another browser context"
    );
    drop((a, b));
    browser.close().await;
    server.abort();
}

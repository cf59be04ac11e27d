//! What the tests know about our web client: where a page is, what its peer connection
//! decodes, and how to fill its forms as a person would.

use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::{json, Value};

use crate::chromium::{Browser, Page};

/// Generous: several pages encoding and decoding on two cores.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a page is: `"in-room"` once the client has a peer connection, `"device-check"` while
/// the join button shows, else `null`.
pub const WHERE_AM_I: &str = "(() => {
    if (window.concord && window.concord.pc) return 'in-room';
    if (document.querySelector('[data-testid=join-button]')) return 'device-check';
    return null;
})()";

/// Reads `window.concord.pc.getStats()` and reports, per remote track, who published it (the
/// stream id in the remote description's `a=msid`, per the protocol) and whether video frames
/// decoded since the previous call.
pub const MEDIA_PROBE: &str = "(async () => {
    const c = window.concord;
    if (!c || !c.pc) return { ready: false };
    const pc = c.pc;
    const streamByMid = {};
    const sdp = (pc.remoteDescription && pc.remoteDescription.sdp) || '';
    for (const section of sdp.split(/\\r?\\nm=/).slice(1)) {
        const mid = (section.match(/\\na=mid:(\\S+)/) || [])[1];
        const msid = (section.match(/\\na=msid:(\\S+)/) || [])[1];
        if (mid && msid) streamByMid[mid] = msid;
    }
    const streamByTrack = {};
    for (const t of pc.getTransceivers()) {
        if (t.mid != null && t.receiver && t.receiver.track && streamByMid[t.mid]) {
            streamByTrack[t.receiver.track.id] = streamByMid[t.mid];
        }
    }
    const video = {}, audio = {};
    (await pc.getStats()).forEach(r => {
        if (r.type !== 'inbound-rtp') return;
        const key = r.trackIdentifier || r.mid || r.id;
        const from = streamByTrack[r.trackIdentifier] || streamByMid[r.mid] || '?';
        if (r.kind === 'video') {
            video[key] = { from, framesDecoded: r.framesDecoded || 0, packets: r.packetsReceived || 0 };
        } else if (r.kind === 'audio') {
            audio[key] = { from, packets: r.packetsReceived || 0 };
        }
    });
    const prev = window.__concordProbe || {};
    window.__concordProbe = video;
    const rising = Object.entries(video)
        .filter(([k, v]) => prev[k] && v.framesDecoded > prev[k].framesDecoded)
        .map(([k, v]) => v.from);
    const audible = Object.values(audio).filter(a => a.packets > 0).map(a => a.from);
    return {
        ready: true,
        me: c.participantId,
        risingTracks: rising.length,
        risingFrom: [...new Set(rising)].sort(),
        audioTracks: audible.length,
        audioFrom: [...new Set(audible)].sort(),
        connection: pc.connectionState,
        video,
        audio,
    };
})()";

/// Waits until the page has video frames decoding from `count` remote tracks and audio
/// packets from as many, and returns the probe's report.
pub async fn wait_for_remote_streams(page: &Page, who: &str, count: usize) -> Value {
    let condition = format!(
        "{MEDIA_PROBE}.then(p => (p.ready && p.risingTracks >= {count} && p.audioTracks >= {count}) ? p : null)"
    );
    match page.wait_for(&condition, BROWSER_TIMEOUT).await {
        Ok(report) => report,
        Err(err) => {
            let last = page.evaluate(MEDIA_PROBE).await;
            panic!(
                "{who}'s page never decoded video from {count} remote tracks with audio: {err:#}\n\
                 last probe: {last:?}"
            );
        }
    }
}

/// Takes a page from its link into the room: through the device check when it shows.
pub async fn enter_room(page: &Page, who: &str, expect_device_check: bool) {
    let place = match page.wait_for(WHERE_AM_I, BROWSER_TIMEOUT).await {
        Ok(place) => place,
        Err(e) => {
            let shown = page
                .evaluate(
                    "`${location.href} (${document.readyState}): ${
                        document.body ? document.body.innerText.slice(0, 400) : 'no body'}`",
                )
                .await;
            panic!("{who}'s page shows neither the device check nor the room: {e:#}\nit shows {shown:?}")
        }
    };
    if expect_device_check {
        assert_eq!(
            place, "device-check",
            "{who} passes the device check before entering"
        );
    }
    if place == "device-check" {
        // The button is enabled once the camera and microphone check is done.
        page.wait_and_click("[data-testid=join-button]", BROWSER_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{who} clicks the join button: {e:#}"));
    }
    page.wait_for(
        "window.concord && window.concord.pc && window.concord.participantId",
        BROWSER_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| panic!("{who} is in the room with a peer connection: {e:#}"));
}

/// Types `value` into the input or select with `data-testid=testid`, firing the events a user's
/// typing fires.
pub async fn fill(page: &Page, testid: &str, value: &str) -> Result<()> {
    let selector = serde_json::to_string(&format!("[data-testid={testid}]"))?;
    let value = serde_json::to_string(value)?;
    let outcome = page
        .evaluate(&format!(
            "(() => {{ const el = document.querySelector({selector}); if (!el) return 'missing'; \
             el.focus(); el.value = {value}; \
             el.dispatchEvent(new Event('input', {{ bubbles: true }})); \
             el.dispatchEvent(new Event('change', {{ bubbles: true }})); return 'filled'; }})()"
        ))
        .await?;
    if outcome.as_str() != Some("filled") {
        bail!("no field with data-testid={testid}");
    }
    Ok(())
}

/// Saves a PNG of the page under `$CONCORD_SCREENSHOTS/{name}.png` when that variable is set:
/// a way to look at what a test saw. Does nothing otherwise.
pub async fn screenshot(page: &Page, name: &str) -> Result<()> {
    use base64::Engine;
    let Ok(dir) = std::env::var("CONCORD_SCREENSHOTS") else {
        return Ok(());
    };
    let shot = page
        .call(
            "Page.captureScreenshot",
            serde_json::json!({ "format": "png" }),
        )
        .await?;
    let data = shot["data"].as_str().unwrap_or_default();
    let png = base64::engine::general_purpose::STANDARD.decode(data)?;
    std::fs::create_dir_all(&dir)?;
    std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png)?;
    Ok(())
}

/// Runs in every page before its own scripts: video transceivers offer only H.264 (and its
/// retransmission format).
pub const ONLY_H264: &str = "(() => {
    const add = RTCPeerConnection.prototype.addTransceiver;
    RTCPeerConnection.prototype.addTransceiver = function (trackOrKind, init) {
        const transceiver = add.call(this, trackOrKind, init);
        const kind = typeof trackOrKind === 'string' ? trackOrKind : trackOrKind.kind;
        if (kind === 'video') {
            const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
            transceiver.setCodecPreferences(
                codecs.filter(c => c.mimeType === 'video/H264' || c.mimeType === 'video/rtx'));
        }
        return transceiver;
    };
})();";

/// Opens `url` in a page whose video transceivers offer only H.264 (as a phone with only a
/// hardware H.264 encoder would).
pub async fn open_sending_only_h264(browser: &Browser, url: &str) -> Page {
    let page = browser.new_page("about:blank").await.expect("a page");
    page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": ONLY_H264 }),
    )
    .await
    .expect("install the codec preference");
    page.navigate(url).await.expect("open the link");
    page
}

/// Waits until the page's client reports the recording `state` (`notice`, `on`, `off`, ...).
pub async fn wait_for_recording_state(page: &Page, state: &str, who: &str) {
    page.wait_for(
        &format!("window.concord && window.concord.recording === '{state}'"),
        BROWSER_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| panic!("{who} sees recording {state}: {e:#}\n{:?}", page.console()));
}

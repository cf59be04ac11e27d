//! Photos and documents shared in the room, kept as evidence: a party shares a photo by their
//! link's token; everyone in the room is told, with its SHA-256 (checked here with `sha256sum`);
//! the bytes come back to the room's invitees and to staff, to nobody else; a text file named
//! like a photo, a file over the limit, an observer, someone not in the room, and a party while
//! the mediator does not allow it are refused; and the case file lists every document.

use std::path::Path;

use concord_tests::files::{draw_test_photo, pdf_with_pages, sha256_of_bytes};
use concord_tests::{msg_type, SignalClient, TestServer, SIGNAL_TIMEOUT};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

/// A real photo's bytes.
fn photo(dir: &Path) -> Vec<u8> {
    let path = dir.join("boundary-stone.png");
    draw_test_photo(&path);
    std::fs::read(&path).expect("read the PNG")
}

/// Uploads `bytes` as the holder of `token`; the status and body.
async fn share(server: &TestServer, session: &str, token: &str, bytes: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(&format!(
            "/api/sessions/{session}/documents?name=界桩照片.png"
        )))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("the request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Offers a JPEG of `length` bytes as the holder of `token`; the status.
///
/// The server may answer 413 before it has read the body and close the connection, so an
/// HTTP client that insists on writing the whole body fails with a broken pipe. Here the body
/// is written beside the reading of the answer, and a write cut short is expected.
async fn share_oversized(server: &TestServer, session: &str, token: &str, length: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = server.url("");
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let stream = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect to the server");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /api/sessions/{session}/documents?name=huge.jpg HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    let body_writer = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let mut chunk = vec![0u8; 64 * 1024];
        chunk[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
        let mut left = length;
        while left > 0 {
            let n = left.min(chunk.len());
            writer.write_all(&chunk[..n]).await?;
            chunk[..3].fill(0);
            left -= n;
        }
        writer.flush().await
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(SIGNAL_TIMEOUT, reader.read(&mut buffer))
            .await
            .expect("the server answers in time")
            .expect("read the answer");
        assert!(n > 0, "the server closed without an answer");
        answer.extend_from_slice(&buffer[..n]);
    }
    body_writer.abort();
    let status_line = String::from_utf8_lossy(&answer);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line: {status_line}"))
}

/// Fetches a document with `token` as bearer (or nothing); the status and bytes.
async fn fetch(server: &TestServer, id: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut request = reqwest::Client::new().get(server.url(&format!("/api/documents/{id}")));
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request.send().await.expect("the request");
    let status = response.status().as_u16();
    (
        status,
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default(),
    )
}

async fn told(client: &mut SignalClient, who: &str) -> Value {
    client
        .expect("document_shared", SIGNAL_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{who} is shown the document: {e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_photo_reaches_the_room_is_kept_with_its_hash_and_only_members_get_it() {
    let server = TestServer::start().await.expect("start the server");
    let dir = tempfile::tempdir().expect("a directory");
    let (room, mut host, _) = server
        .hosted_room(false)
        .await
        .expect("a session, the host in");
    let session = room.session_id.clone();
    let mut tokens = Vec::new();
    let mut clients = Vec::new();
    for (role, name) in [("party", "甲"), ("party", "乙"), ("observer", "旁听")] {
        let invitation = room.invite(role, name).await.expect("invite");
        let (client, joined) = server
            .join_by_link(&invitation.token)
            .await
            .expect("joined by link");
        assert_eq!(joined["documents"], json!([]), "{joined}");
        assert_eq!(joined["parties_may_share"], true, "{joined}");
        tokens.push(invitation.token);
        clients.push(client);
    }
    let [a_token, b_token, observer_token] =
        <[String; 3]>::try_from(tokens).unwrap_or_else(|_| panic!("three tokens"));
    let [mut a, mut b, mut observer] =
        <[SignalClient; 3]>::try_from(clients).unwrap_or_else(|_| panic!("three clients"));

    // 甲 shares a photo: everyone in the room is told, with its hash.
    let png = photo(dir.path());
    let hash = sha256_of_bytes(&png);
    let (status, body) = share(&server, &session, &a_token, png.clone()).await;
    assert_eq!(status, 200, "{body}");
    let document = body["document"].clone();
    assert_eq!(document["sha256"], hash.as_str(), "{document}");
    assert_eq!(document["content_type"], "image/png");
    assert_eq!(document["shared_by"], "甲");
    assert_eq!(document["file_name"], "界桩照片.png");
    let id = document["id"].as_str().expect("an id").to_owned();
    for (client, who) in [
        (&mut host, "the mediator"),
        (&mut a, "甲"),
        (&mut b, "乙"),
        (&mut observer, "the observer"),
    ] {
        let shown = told(client, who).await;
        assert_eq!(shown["id"], id.as_str(), "{who}: {shown}");
        assert_eq!(shown["sha256"], hash.as_str(), "{who}: {shown}");
        assert!(
            shown.get("path").is_none(),
            "no path on disk is shown: {shown}"
        );
    }

    // The bytes, to the room's invitees and staff only.
    let (status, bytes) = fetch(&server, &id, Some(&b_token)).await;
    assert_eq!((status, bytes == png), (200, true), "乙 gets the photo");
    let by_staff = room
        .mediator
        .send_raw(
            Method::GET,
            &format!("/api/documents/{id}"),
            "text/plain",
            "",
        )
        .await
        .expect("request");
    assert_eq!(by_staff.status, 200, "the mediator gets it");
    assert_eq!(fetch(&server, &id, None).await.0, 401, "nobody signed in");
    let elsewhere = server.room(false).await.expect("another session");
    let stranger = elsewhere.invite("party", "丙").await.expect("invite");
    assert_eq!(
        fetch(&server, &id, Some(&stranger.token)).await.0,
        403,
        "a party of another session"
    );
    assert_eq!(
        fetch(&server, &id, Some("not-a-token")).await.0,
        404,
        "a made-up token"
    );

    // Refusals.
    let (status, body) = share(
        &server,
        &session,
        &a_token,
        b"just text, named .jpg".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_media_type")),
        "{body}"
    );
    let status = share_oversized(&server, &session, &a_token, 16 * 1024 * 1024).await;
    assert_eq!(status, 413, "over 15 MB");
    let (status, body) = share(&server, &session, &observer_token, png.clone()).await;
    assert_eq!(status, 403, "an observer: {body}");
    let absent = room.invite("party", "未进入").await.expect("invite");
    let (status, body) = share(&server, &session, &absent.token, png.clone()).await;
    assert_eq!(status, 403, "someone not in the room: {body}");
    let (status, body) = share(&server, &session, &stranger.token, png.clone()).await;
    assert_eq!(status, 403, "a party of another session: {body}");

    // The mediator stops parties from sharing; a party is refused, the mediator is not.
    observer
        .send(json!({"type": "set_document_sharing", "parties_may_share": false}))
        .expect("send");
    observer
        .expect_error("forbidden", SIGNAL_TIMEOUT)
        .await
        .expect("only the host decides");
    host.send(json!({"type": "set_document_sharing", "parties_may_share": false}))
        .expect("send");
    let changed = b
        .expect("document_sharing", SIGNAL_TIMEOUT)
        .await
        .expect("everyone is told");
    assert_eq!(changed["parties_may_share"], false);
    let (status, body) = share(&server, &session, &a_token, png.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not allowed parties")),
        "{body}"
    );
    let pdf = pdf_with_pages(1);
    let by_host = room
        .mediator
        .send_raw(
            Method::POST,
            &format!("/api/sessions/{session}/documents?name=contract.pdf"),
            "application/pdf",
            pdf.clone(),
        )
        .await
        .expect("request");
    assert_eq!(
        by_host.status, 200,
        "the mediator shares a PDF: {:?}",
        by_host.body
    );
    assert_eq!(by_host.body["document"]["content_type"], "application/pdf");

    // The case file lists both, with their hashes; the events say who shared what when.
    let record = room.session_record().await.expect("the session's record");
    let documents = record["documents"].as_array().cloned().unwrap_or_default();
    assert_eq!(documents.len(), 2, "{record}");
    assert_eq!(documents[0]["sha256"], hash.as_str());
    assert_eq!(documents[1]["sha256"], sha256_of_bytes(&pdf).as_str());
    let kinds: Vec<&str> = record["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["kind"].as_str())
                .filter(|k| k.starts_with("document_"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        kinds,
        [
            "document_shared",
            "document_sharing_changed",
            "document_shared"
        ],
        "{record}"
    );
    let seen = a.round_trip(SIGNAL_TIMEOUT).await.expect("connected");
    assert!(
        seen.iter().any(|m| msg_type(m) == "document_shared"),
        "甲 was shown the mediator's PDF: {seen:?}"
    );
    server.shutdown().await;
}

/// A PDF's pages are drawn as pictures when it is shared (a phone's browser may not show a
/// PDF): each page comes back as a PNG to those who may read the document, the PDF itself is
/// kept as shared, and a damaged PDF is refused with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_pdf_is_kept_and_its_pages_are_shown_as_pictures() {
    let server = TestServer::start().await.expect("start the server");
    let (room, mut host, _) = server.hosted_room(false).await.expect("a hosted room");
    let invitation = room.invite("party", "甲").await.expect("invite");
    let (_party, _) = server
        .join_by_link(&invitation.token)
        .await
        .expect("the party joins");
    let pdf = pdf_with_pages(2);
    let (status, body) = share(&server, &room.session_id, &invitation.token, pdf.clone()).await;
    assert_eq!(status, 200, "{body}");
    let document = &body["document"];
    assert_eq!(document["content_type"], "application/pdf", "{document}");
    assert_eq!(document["page_count"], 2, "both pages drawn: {document}");
    assert_eq!(document["sha256"], sha256_of_bytes(&pdf).as_str());
    let shown = told(&mut host, "the mediator").await;
    assert_eq!(shown["page_count"], 2, "{shown}");
    let id = document["id"].as_str().expect("an id");

    let (status, kept) = fetch(&server, id, Some(&invitation.token)).await;
    assert_eq!((status, kept == pdf), (200, true), "the PDF as shared");
    for page in [1, 2] {
        let (status, picture) = fetch(
            &server,
            &format!("{id}/pages/{page}"),
            Some(&invitation.token),
        )
        .await;
        assert_eq!(status, 200, "page {page}");
        assert!(
            picture.starts_with(b"\x89PNG\r\n\x1a\n") && picture.len() > 1000,
            "page {page} is a PNG picture ({} bytes)",
            picture.len()
        );
    }
    for page in ["0", "3", "x"] {
        let (status, _) = fetch(
            &server,
            &format!("{id}/pages/{page}"),
            Some(&invitation.token),
        )
        .await;
        assert!(matches!(status, 400 | 404), "page {page}: {status}");
    }
    assert_eq!(
        fetch(&server, &format!("{id}/pages/1"), None).await.0,
        401,
        "pages are no more public than the PDF"
    );

    let damaged = b"%PDF-1.4\nthis is not a PDF at all\n%%EOF\n".to_vec();
    let (status, body) = share(&server, &room.session_id, &invitation.token, damaged).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PDF")),
        "{body}"
    );
    server.shutdown().await;
}

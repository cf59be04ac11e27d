//! A page on another site cannot open a signaling socket with a signed-in mediator's cookie
//! (cross-site WebSocket hijacking): the cookie only counts from our own origin.

use concord_tests::{TestServer, SIGNAL_TIMEOUT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Joins the session over a socket opened with `origin`, returns the first reply.
async fn join_from(server: &TestServer, cookie: &str, origin: &str, session_id: &str) -> Value {
    let mut request = server.ws_url().into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert("cookie", HeaderValue::from_str(cookie).expect("cookie"));
    headers.insert("origin", HeaderValue::from_str(origin).expect("origin"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let join = json!({"type": "join", "session_id": session_id}).to_string();
    socket.send(Message::text(join)).await.expect("send join");
    let reply = tokio::time::timeout(SIGNAL_TIMEOUT, async {
        while let Some(Ok(frame)) = socket.next().await {
            if let Message::Text(text) = frame {
                return serde_json::from_str::<Value>(text.as_str()).expect("JSON");
            }
        }
        panic!("the socket closed without a reply");
    })
    .await
    .expect("a reply to join");
    let _ = socket.close(None).await;
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediator_cookie_counts_only_from_our_own_origin() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("mediator, dispute, session");
    let cookie = room.mediator_cookie().expect("cookie");

    let foreign = join_from(&server, &cookie, "https://evil.example", &room.session_id).await;
    assert_eq!(foreign["type"], "error", "{foreign}");
    assert_eq!(
        foreign["code"], "unauthenticated",
        "a foreign page is not the mediator: {foreign}"
    );

    let own_origin = server.base_url().to_owned();
    let own = join_from(&server, &cookie, &own_origin, &room.session_id).await;
    assert_eq!(own["type"], "joined", "our own page is the mediator: {own}");
    assert_eq!(own["is_host"], true, "{own}");
    server.shutdown().await;
}

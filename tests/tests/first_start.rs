//! First start without an administrator password: the printed setup link names the
//! administrator once, and only once.

use concord_tests::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_link_creates_the_administrator_once() {
    let server = TestServer::start_with(|config| config.admin_password.clear())
        .await
        .expect("start the server");
    let link = server
        .server()
        .expect("server")
        .setup_link()
        .expect("a first start without a password prints a setup link")
        .to_owned();
    assert!(
        link.starts_with(&server.url("/setup/")),
        "the link opens this server's setup page: {link}"
    );
    let token = link.rsplit('/').next().expect("token").to_owned();

    let client = server.client().expect("client");
    client
        .post(
            "/api/setup",
            json!({"token": token, "username": "chief", "display_name": "Chief", "password": "short"}),
        )
        .await
        .expect("request")
        .expect_error(400, "validation_failed")
        .expect("a short password is refused and the link stays usable");

    let created = client
        .post(
            "/api/setup",
            json!({"token": token, "username": "chief", "display_name": "县调解中心主任",
                   "password": "a long enough password"}),
        )
        .await
        .expect("request")
        .ok()
        .expect("the setup link names the administrator");
    assert_eq!(created["user"]["role"], "admin", "{created}");
    let me = client
        .get("/api/auth/me")
        .await
        .expect("request")
        .ok()
        .expect("setting up signs the administrator in");
    assert_eq!(me["user"]["username"], "chief");

    let again = server.client().expect("client");
    again
        .post(
            "/api/setup",
            json!({"token": token, "username": "intruder", "display_name": "X",
                   "password": "another long password"}),
        )
        .await
        .expect("request")
        .expect_error(404, "not_found")
        .expect("the setup link works once");
    again
        .login("chief", "a long enough password")
        .await
        .expect("the administrator signs in with the password they chose");
    server.shutdown().await;
}

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

/// Records are private whatever the umask the server starts under: its data directory, the
/// database in it and the recordings directory are readable by its own user only, even if the
/// directory already existed with wider permissions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    // A data directory that exists already, open to everyone, as a careless install leaves it.
    let parent = tempfile::tempdir().expect("a temporary directory");
    let data = parent.path().join("data");
    std::fs::create_dir(&data).expect("the data directory");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data_dir = data.clone();
    let server = TestServer::start_with(move |config| config.data_dir = data_dir)
        .await
        .expect("a server");
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = data.as_path();
    assert_eq!(mode(data), 0o700, "the data directory");
    assert_eq!(
        mode(&data.join("recordings")),
        0o700,
        "the recordings directory"
    );
    let database = data.join("concord.db");
    assert_eq!(mode(&database), 0o600, "the database");
    for entry in std::fs::read_dir(data).expect("the data directory") {
        let path = entry.expect("an entry").path();
        let wanted = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), wanted, "{}", path.display());
    }
    server.shutdown().await;
}

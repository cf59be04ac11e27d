//! Every REST action against every kind of caller: the administrator, the dispute's mediator,
//! another mediator, staff, nobody, and the holders of invitation tokens (this session's, another
//! session's, revoked, expired, made up) presenting them as bearer tokens. Each cell's status is
//! asserted; on a mismatch the whole matrix is printed.

use std::time::Duration;

use concord_tests::{ApiClient, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// The callers, in the matrix's column order.
const CALLERS: [&str; 10] = [
    "admin",
    "own",
    "other",
    "staff",
    "anon",
    "party",
    "elsewhere",
    "revoked",
    "expired",
    "made-up",
];

/// One action: a label, how to make the request (given the fixture), and the expected status
/// for each caller in [`CALLERS`] order.
struct Action {
    label: &'static str,
    request: fn(&Fixture) -> (Method, String, Option<Value>),
    expected: [u16; 10],
}

/// What the actions act on. Destructive actions (end, revoke) get a fresh target per caller.
struct Fixture {
    dispute: String,
    session: String,
    other_mediator_id: String,
    unique: std::sync::atomic::AtomicU32,
}

impl Fixture {
    fn next(&self) -> u32 {
        self.unique
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

// The statuses, named.
const OK: u16 = 200;
const UNAUTH: u16 = 401;
const FORBID: u16 = 403;

/// Callers without an account (nobody and every token holder) get 401 from every account route.
const ADMIN_ONLY: [u16; 10] = [
    OK, FORBID, FORBID, FORBID, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH,
];
const STAFF_READS: [u16; 10] = [
    OK, OK, FORBID, OK, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH,
];
const MANAGERS: [u16; 10] = [
    OK, OK, FORBID, FORBID, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH,
];

fn actions() -> Vec<Action> {
    vec![
        Action {
            label: "list disputes",
            request: |_| (Method::GET, "/api/disputes".into(), None),
            expected: [
                OK, OK, OK, OK, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH,
            ],
        },
        Action {
            label: "open a dispute",
            request: |f| {
                let body = json!({
                    "case_number": format!("M-{}", f.next()),
                    "title": "Matrix",
                    "category": "land",
                    "parties": [{"name": "A"}],
                });
                (Method::POST, "/api/disputes".into(), Some(body))
            },
            expected: [
                OK, OK, OK, FORBID, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH,
            ],
        },
        Action {
            label: "read the dispute",
            request: |f| (Method::GET, format!("/api/disputes/{}", f.dispute), None),
            expected: STAFF_READS,
        },
        Action {
            label: "change the dispute",
            request: |f| {
                let body = json!({"description": format!("note {}", f.next())});
                (
                    Method::PATCH,
                    format!("/api/disputes/{}", f.dispute),
                    Some(body),
                )
            },
            expected: MANAGERS,
        },
        Action {
            label: "open a session",
            request: |f| {
                let path = format!("/api/disputes/{}/sessions", f.dispute);
                (Method::POST, path, Some(json!({})))
            },
            expected: MANAGERS,
        },
        Action {
            label: "read the session",
            request: |f| (Method::GET, format!("/api/sessions/{}", f.session), None),
            expected: STAFF_READS,
        },
        Action {
            label: "invite",
            request: |f| {
                let path = format!("/api/sessions/{}/invitations", f.session);
                (
                    Method::POST,
                    path,
                    Some(json!({"role": "party", "name": "Invited"})),
                )
            },
            expected: MANAGERS,
        },
        Action {
            label: "list recordings",
            request: |f| {
                (
                    Method::GET,
                    format!("/api/disputes/{}/recordings", f.dispute),
                    None,
                )
            },
            // A known invitation's holder is told no (403); a made-up token is a guess (401).
            expected: [
                OK, OK, FORBID, OK, UNAUTH, FORBID, FORBID, FORBID, FORBID, UNAUTH,
            ],
        },
        Action {
            label: "list accounts",
            request: |_| (Method::GET, "/api/users".into(), None),
            expected: ADMIN_ONLY,
        },
        Action {
            label: "create an account",
            request: |f| {
                let body = json!({
                    "username": format!("matrix{}", f.next()),
                    "display_name": "Matrix",
                    "password": "a-long-matrix-password",
                    "role": "staff",
                });
                (Method::POST, "/api/users".into(), Some(body))
            },
            expected: ADMIN_ONLY,
        },
        Action {
            label: "enable an account",
            request: |f| {
                let path = format!("/api/users/{}", f.other_mediator_id);
                (Method::PATCH, path, Some(json!({"disabled": false})))
            },
            expected: ADMIN_ONLY,
        },
        Action {
            label: "media stats",
            request: |_| (Method::GET, "/api/media/stats".into(), None),
            expected: ADMIN_ONLY,
        },
    ]
}

/// A request as `caller`: its cookie jar, or a bearer token.
async fn send(
    server: &TestServer,
    caller: &(ApiClient, Option<String>),
    (method, path, body): (Method, String, Option<Value>),
) -> u16 {
    let (client, bearer) = caller;
    let Some(token) = bearer else {
        return client
            .request(method, &path, body)
            .await
            .expect("a response")
            .status;
    };
    let mut request = reqwest::Client::new()
        .request(method, server.url(&path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("a response").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rest_action_against_every_caller() {
    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(false)
        .await
        .expect("the dispute and its session");
    let other_room = server
        .room(false)
        .await
        .expect("another mediator's session");
    let other_mediator_id = other_room
        .mediator
        .get("/api/auth/me")
        .await
        .and_then(|r| r.ok())
        .expect("me")["user"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let party = room.invite("party", "Party").await.expect("a party");
    let elsewhere = other_room
        .invite("party", "Elsewhere")
        .await
        .expect("a party elsewhere");
    let revoked = room
        .invite("party", "Revoked")
        .await
        .expect("an invitation");
    room.mediator
        .post(
            &format!("/api/invitations/{}/revoke", revoked.id),
            json!({}),
        )
        .await
        .and_then(|r| r.ok())
        .expect("revoked");
    let expired = room
        .mediator
        .invite_with(
            &room.session_id,
            json!({"role": "party", "name": "Expired", "expires_in_seconds": 1}),
        )
        .await
        .expect("a short invitation");
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let anonymous = || server.client().expect("client");
    let callers: Vec<(ApiClient, Option<String>)> = vec![
        (server.admin().await.expect("admin"), None),
        (room.mediator.clone(), None),
        (other_room.mediator.clone(), None),
        (server.account("staff").await.expect("staff"), None),
        (anonymous(), None),
        (anonymous(), Some(party.token.clone())),
        (anonymous(), Some(elsewhere.token.clone())),
        (anonymous(), Some(revoked.token.clone())),
        (anonymous(), Some(expired.token.clone())),
        (
            anonymous(),
            Some("made-up-token-0000000000000000000".into()),
        ),
    ];
    let fixture = Fixture {
        dispute: room.dispute_id.clone(),
        session: room.session_id.clone(),
        other_mediator_id,
        unique: Default::default(),
    };

    let mut table = Vec::new();
    let mut wrong = 0;
    for action in actions() {
        let mut row = format!("{:<20}", action.label);
        for (caller, expected) in callers.iter().zip(action.expected) {
            let got = send(&server, caller, (action.request)(&fixture)).await;
            if got == expected {
                row.push_str(&format!(" {got:>9}"));
            } else {
                wrong += 1;
                row.push_str(&format!(" {got:>3}!={expected:<3}"));
            }
        }
        table.push(row);
    }
    // Destructive actions: a fresh target for each caller, made by the dispute's mediator.
    for (label, expected) in [("revoke", MANAGERS), ("end the session", MANAGERS)] {
        let mut row = format!("{label:<20}");
        for (caller, expected) in callers.iter().zip(expected) {
            let request = if label == "revoke" {
                let fresh = room.invite("party", "Fresh").await.expect("an invitation");
                (
                    Method::POST,
                    format!("/api/invitations/{}/revoke", fresh.id),
                    Some(json!({})),
                )
            } else {
                let fresh = room
                    .mediator
                    .create_session(&room.dispute_id, false)
                    .await
                    .expect("a session");
                let id = fresh["id"]
                    .as_str()
                    .or_else(|| fresh["session"]["id"].as_str())
                    .expect("its id")
                    .to_owned();
                (
                    Method::POST,
                    format!("/api/sessions/{id}/end"),
                    Some(json!({})),
                )
            };
            let got = send(&server, caller, request).await;
            if got == expected {
                row.push_str(&format!(" {got:>9}"));
            } else {
                wrong += 1;
                row.push_str(&format!(" {got:>3}!={expected:<3}"));
            }
        }
        table.push(row);
    }
    let header = CALLERS.iter().fold(format!("{:<20}", ""), |mut h, c| {
        h.push_str(&format!(" {c:>9}"));
        h
    });
    let printed = format!("{header}\n{}", table.join("\n"));
    println!("{printed}");
    assert_eq!(wrong, 0, "cells that differ (got!=expected):\n{printed}");
    server.shutdown().await;
}

/// The host's powers over signaling, tried by everyone else in the room: each admitted invitee
/// role is refused with `forbidden`, someone still in the lobby with `not_admitted`, and none of
/// it has any effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_action_over_signaling_against_every_other_role() {
    use concord_tests::{msg_type, SignalClient, SIGNAL_TIMEOUT};

    let server = TestServer::start().await.expect("start the server");
    let room = server
        .room(true)
        .await
        .expect("a session with the lobby on");
    let mut host = server.signal(Some(&room.mediator)).await.expect("connect");
    let joined = host
        .join_session(&room.session_id, SIGNAL_TIMEOUT)
        .await
        .expect("reply");
    assert_eq!(msg_type(&joined), "joined", "{joined}");
    let host_id = joined["participant_id"].as_str().expect("id").to_owned();

    // Everyone but the last is admitted.
    let mut members: Vec<(&str, SignalClient, String)> = Vec::new();
    for role in ["party", "expert", "observer", "party"] {
        let invitation = room.invite(role, role).await.expect("invite");
        let mut client = server.signal(None).await.expect("connect");
        let lobby = client
            .join_with_token(&invitation.token, SIGNAL_TIMEOUT)
            .await
            .expect("reply");
        assert_eq!(msg_type(&lobby), "lobby", "{lobby}");
        let id = lobby["participant_id"].as_str().expect("id").to_owned();
        members.push((role, client, id));
    }
    for (_, client, id) in members.iter_mut().take(3) {
        host.send(json!({"type": "admit", "participant_id": id}))
            .expect("send");
        client
            .expect("joined", SIGNAL_TIMEOUT)
            .await
            .expect("admitted by the host");
    }
    let waiting_id = members[3].2.clone();
    members[3].0 = "in lobby";

    let actions = |target: &str| {
        [
            ("admit", json!({"type": "admit", "participant_id": target})),
            (
                "refuse",
                json!({"type": "refuse", "participant_id": target}),
            ),
            ("kick", json!({"type": "kick", "participant_id": host_id})),
            ("end_session", json!({"type": "end_session"})),
            ("start_recording", json!({"type": "start_recording"})),
            ("stop_recording", json!({"type": "stop_recording"})),
        ]
    };
    let mut table = Vec::new();
    let mut wrong = 0;
    for (role, client, _) in &mut members {
        let expected = if *role == "in lobby" {
            "not_admitted"
        } else {
            "forbidden"
        };
        let mut row = format!("{role:<10}");
        for (action, message) in actions(&waiting_id) {
            client.send(message).expect("send");
            let code = match client.expect("error", SIGNAL_TIMEOUT).await {
                Ok(error) => error["code"].as_str().unwrap_or("?").to_owned(),
                Err(_) => "no error".to_owned(),
            };
            if code != expected {
                wrong += 1;
            }
            row.push_str(&format!(" {action}={code}"));
        }
        table.push(row);
    }
    let printed = table.join("\n");
    println!("{printed}");
    assert_eq!(wrong, 0, "cells that differ:\n{printed}");

    // Nothing happened: the one waiting still waits, the host is in, the session is live and
    // not recording, and every connection is open.
    let seen = host
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the host is in");
    assert!(
        !seen.iter().any(|m| matches!(
            msg_type(m),
            "kicked" | "session_ended" | "recording_started"
        )),
        "{seen:?}"
    );
    for (role, client, _) in &mut members {
        let seen = client
            .round_trip(SIGNAL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{role} is still connected: {e:#}"));
        assert!(
            !seen
                .iter()
                .any(|m| matches!(msg_type(m), "joined" | "refused" | "session_ended")),
            "{role}: {seen:?}"
        );
    }
    host.send(json!({"type": "admit", "participant_id": waiting_id}))
        .expect("send");
    members[3]
        .1
        .expect("joined", SIGNAL_TIMEOUT)
        .await
        .expect("the host's powers still work");
    server.shutdown().await;
}

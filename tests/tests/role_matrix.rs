//! Every REST action against every kind of caller: the administrator, the dispute's mediator,
//! another mediator, staff, nobody, and the holders of invitation tokens (this session's, another
//! session's, revoked, expired, made up) presenting them as bearer tokens. Each cell's status is
//! asserted; on a mismatch the whole matrix is printed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use concord_tests::server::id_of;
use concord_tests::{admit, whoami, ApiClient, Room, SignalClient, TestServer};
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

/// What the actions act on. Destructive actions (end, revoke) get a fresh target per caller,
/// made by the dispute's mediator beforehand.
struct Fixture {
    dispute: String,
    /// A roster entry, to invite.
    expert: String,
    session: String,
    other_mediator_id: String,
    unique: AtomicU32,
    fresh_invitations: Mutex<Vec<String>>,
    fresh_sessions: Mutex<Vec<String>>,
}

impl Fixture {
    /// The fixture for `room`, with a fresh invitation and session for each caller.
    async fn new(room: &Room, other_mediator_id: String) -> Fixture {
        let mut fresh_invitations = Vec::new();
        let mut fresh_sessions = Vec::new();
        for _ in CALLERS {
            let fresh = room.invite("party", "Fresh").await.expect("an invitation");
            fresh_invitations.push(fresh.id);
            let fresh = room
                .mediator
                .create_session(&room.dispute_id, false)
                .await
                .expect("a session");
            fresh_sessions.push(id_of(&fresh).expect("its id"));
        }
        let expert = room
            .mediator
            .post(
                "/api/experts",
                json!({"name": "王工", "specialty": "土地", "center": "县自然资源局"}),
            )
            .await
            .expect("add an expert")
            .ok()
            .expect("the mediator adds an expert");
        Fixture {
            dispute: room.dispute_id.clone(),
            expert: id_of(&expert["expert"]).expect("the expert's id"),
            session: room.session_id.clone(),
            other_mediator_id,
            unique: Default::default(),
            fresh_invitations: Mutex::new(fresh_invitations),
            fresh_sessions: Mutex::new(fresh_sessions),
        }
    }

    fn next(&self) -> u32 {
        self.unique.fetch_add(1, Ordering::Relaxed)
    }

    /// A destructive action on a target of its own for one caller: `POST {under}/{id}/{action}`.
    fn post_to_fresh(
        targets: &Mutex<Vec<String>>,
        under: &str,
        action: &str,
    ) -> (Method, String, Option<Value>) {
        let mut targets = targets.lock().expect("the targets");
        let id = targets.pop().expect("a fresh target for each caller");
        (
            Method::POST,
            format!("{under}/{id}/{action}"),
            Some(json!({})),
        )
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
            label: "read the expert roster",
            request: |_| (Method::GET, "/api/experts".into(), None),
            expected: [
                OK, OK, OK, OK, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH,
            ],
        },
        Action {
            label: "add an expert",
            request: |f| {
                let body = json!({"name": format!("专家{}", f.next()), "specialty": "劳动", "center": "县仲裁院"});
                (Method::POST, "/api/experts".into(), Some(body))
            },
            expected: [
                OK, OK, OK, FORBID, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH,
            ],
        },
        Action {
            label: "invite an expert",
            request: |f| {
                let path = format!("/api/sessions/{}/expert-invitations", f.session);
                let body = json!({"expert_id": f.expert, "scope": "mediator"});
                (Method::POST, path, Some(body))
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
        Action {
            label: "revoke",
            request: |f| Fixture::post_to_fresh(&f.fresh_invitations, "/api/invitations", "revoke"),
            expected: MANAGERS,
        },
        Action {
            label: "end the session",
            request: |f| Fixture::post_to_fresh(&f.fresh_sessions, "/api/sessions", "end"),
            expected: MANAGERS,
        },
    ]
}

/// Who makes a request: a client with its cookie jar, and the bearer token it presents if any.
type Caller = (ApiClient, Option<String>);

/// `action`'s row of the matrix, made by each caller in turn: each status, marked
/// `got!=expected` where it is not the one expected, and how many are not.
async fn row(
    server: &TestServer,
    callers: &[Caller],
    fixture: &Fixture,
    action: &Action,
) -> (String, usize) {
    let mut row = format!("{:<20}", action.label);
    let mut wrong = 0;
    for (caller, expected) in callers.iter().zip(action.expected) {
        let got = send(server, caller, (action.request)(fixture)).await;
        if got == expected {
            row.push_str(&format!(" {got:>9}"));
        } else {
            wrong += 1;
            row.push_str(&format!(" {got:>3}!={expected:<3}"));
        }
    }
    (row, wrong)
}

/// A request as `caller`: its cookie jar, or a bearer token.
async fn send(
    server: &TestServer,
    caller: &Caller,
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
    let (other_mediator_id, _) = whoami(&other_room.mediator).await.expect("me");
    let party = room.invite("party", "Party").await.expect("a party");
    let elsewhere = other_room
        .invite("party", "Elsewhere")
        .await
        .expect("a party elsewhere");
    let revoked = room
        .invite("party", "Revoked")
        .await
        .expect("an invitation");
    room.mediator.revoke(&revoked.id).await.expect("revoked");
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
    let callers: Vec<Caller> = vec![
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
    let fixture = Fixture::new(&room, other_mediator_id).await;

    let mut table = Vec::new();
    let mut wrong = 0;
    for action in actions() {
        let (row, wrong_in_row) = row(&server, &callers, &fixture, &action).await;
        table.push(row);
        wrong += wrong_in_row;
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

/// The host's powers over signaling (confirming an identity, a private chat message to another
/// invitee among them), tried by everyone else in the room: each admitted invitee role is
/// refused with `forbidden`, someone still in the lobby with `not_admitted`, and none of it has
/// any effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_action_over_signaling_against_every_other_role() {
    use concord_tests::{msg_type, SIGNAL_TIMEOUT};

    let server = TestServer::start().await.expect("start the server");
    let (_room, mut host, host_id, mut members) =
        lobby_room(&server, ["party", "expert", "observer"]).await;
    let waiting_id = members[3].2.clone();

    // `peer` is another admitted invitee: a private chat message to them is the host's alone.
    let actions = |target: &str, peer: &str| {
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
            (
                "confirm_identity",
                json!({"type": "confirm_identity", "participant_id": peer, "method": "id_card"}),
            ),
            (
                "start_caucus",
                json!({"type": "start_caucus", "participant_ids": [peer]}),
            ),
            ("end_caucus", json!({"type": "end_caucus"})),
            (
                "private_chat",
                json!({"type": "chat", "text": "只给你看", "to": peer}),
            ),
            (
                "record_draft",
                json!({"type": "record_draft", "text": "我写的笔录", "version": 0}),
            ),
            ("present_record", json!({"type": "present_record"})),
        ]
    };
    let party_id = members[0].2.clone();
    let expert_id = members[1].2.clone();
    let mut table = Vec::new();
    let mut wrong = 0;
    for (role, client, id) in &mut members {
        let peer = if *id == party_id {
            &expert_id
        } else {
            &party_id
        };
        let expected = if *role == "in lobby" {
            "not_admitted"
        } else {
            "forbidden"
        };
        let mut row = format!("{role:<10}");
        for (action, message) in actions(&waiting_id, peer) {
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
            "kicked"
                | "session_ended"
                | "recording_started"
                | "chat"
                | "attestation"
                | "caucus"
                | "mediation_record"
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
                .any(|m| matches!(msg_type(m), "joined" | "refused" | "session_ended" | "chat")),
            "{role}: {seen:?}"
        );
    }
    admit(&host, &mut members[3].1, &waiting_id)
        .await
        .expect("the host's powers still work");
    server.shutdown().await;
}

/// Sharing a screen over signaling: a party and an observer are refused (`share_screen`, and an
/// offer naming a screen), someone in the lobby is not admitted yet; the expert and the host
/// share, and everyone hears who does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_host_staff_and_experts_share_a_screen() {
    use concord_tests::{msg_type, SIGNAL_TIMEOUT};

    let server = TestServer::start().await.expect("start the server");
    let (_room, mut host, host_id, mut members) =
        lobby_room(&server, ["party", "observer", "expert"]).await;

    let refusals = [
        (
            "share_screen",
            json!({"type": "share_screen", "sharing": true}),
        ),
        (
            "offer with a screen",
            json!({"type": "offer", "sdp": "v=0\r\n", "screen_mid": "2"}),
        ),
    ];
    let mut cells = Vec::new();
    for (role, client, _) in members.iter_mut().filter(|(role, _, _)| *role != "expert") {
        let expected = if *role == "in lobby" {
            "not_admitted"
        } else {
            "forbidden"
        };
        for (action, message) in &refusals {
            client.send(message.clone()).expect("send");
            let code = match client.expect("error", SIGNAL_TIMEOUT).await {
                Ok(error) => error["code"].as_str().unwrap_or("?").to_owned(),
                Err(_) => "no error".to_owned(),
            };
            cells.push((format!("{role} {action}"), code, expected));
        }
    }
    let wrong: Vec<_> = cells.iter().filter(|(_, got, want)| got != want).collect();
    assert!(
        wrong.is_empty(),
        "refusals that differ: {wrong:?} of {cells:?}"
    );
    let seen = host
        .round_trip(SIGNAL_TIMEOUT)
        .await
        .expect("the host is in");
    assert!(
        !seen.iter().any(|m| msg_type(m) == "screen_share"),
        "nobody shares: {seen:?}"
    );

    // The expert shares, then the host takes over; each time everyone admitted is told.
    let expert_id = members[2].2.clone();
    members[2]
        .1
        .send(json!({"type": "share_screen", "sharing": true}))
        .expect("send");
    for (who, client) in [("the host", &mut host), ("the party", &mut members[0].1)] {
        let shared = client
            .expect("screen_share", SIGNAL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{who} hears the expert shares: {e:#}"));
        assert_eq!(shared["participant_id"], expert_id.as_str(), "{shared}");
    }
    let own = members[2]
        .1
        .expect("screen_share", SIGNAL_TIMEOUT)
        .await
        .expect("the expert hears its own share");
    assert_eq!(own["participant_id"], expert_id.as_str(), "{own}");
    host.send(json!({"type": "share_screen", "sharing": true}))
        .expect("send");
    let taken = members[2]
        .1
        .expect("screen_share", SIGNAL_TIMEOUT)
        .await
        .expect("the expert hears the host took over");
    assert_eq!(taken["participant_id"], host_id.as_str(), "{taken}");
    let party_sees = members[0]
        .1
        .expect("screen_share", SIGNAL_TIMEOUT)
        .await
        .expect("the party hears the host took over");
    assert_eq!(
        party_sees["participant_id"],
        host_id.as_str(),
        "{party_sees}"
    );
    host.send(json!({"type": "share_screen", "sharing": false}))
        .expect("send");
    let stopped = members[0]
        .1
        .expect("screen_share", SIGNAL_TIMEOUT)
        .await
        .expect("the party hears it stopped");
    assert!(stopped["participant_id"].is_null(), "{stopped}");
    server.shutdown().await;
}

/// A session with the lobby on and its host in; invitees of `admitted` roles admitted, in that
/// order, and one more party left waiting in the lobby (named "in lobby").
async fn lobby_room(
    server: &TestServer,
    admitted: [&'static str; 3],
) -> (
    Room,
    SignalClient,
    String,
    Vec<(&'static str, SignalClient, String)>,
) {
    let (room, host, host_id) = server
        .hosted_room(true)
        .await
        .expect("a session with the lobby on, the host in");
    let mut members = Vec::new();
    for role in admitted.into_iter().chain(["party"]) {
        let invitation = room.invite(role, role).await.expect("invite");
        let (client, id) = server
            .wait_in_lobby(&invitation.token)
            .await
            .expect("the invitee waits in the lobby");
        members.push((role, client, id));
    }
    for (_, client, id) in members.iter_mut().take(3) {
        admit(&host, client, id)
            .await
            .expect("admitted by the host");
    }
    members[3].0 = "in lobby";
    (room, host, host_id, members)
}

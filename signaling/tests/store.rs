//! The records store against both databases it supports: every behaviour below runs once on a
//! fresh SQLite file and once on a fresh PostgreSQL database (a throwaway server started by
//! `support::postgres`). Times are explicit inputs, so nothing sleeps.

mod support;

use concord_signaling::store::{
    AccountRole, AuditEntry, CompositeStatus, DisputeChanges, DisputeLevel, DisputeStatus,
    FileKind, FileOutcome, FileStatus, InviteeRole, NewDispute, NewInvitation, NewRecordingFile,
    ParticipantRole, Party, RecordingStatus, ResumeSeat, SeatHolder, SessionEvent,
    SessionEventKind, SessionStatus, Store, StoreError, User,
};
use tempfile::TempDir;

/// Milliseconds since the epoch, large enough that a 32-bit truncation would show.
const T0: i64 = 1_760_000_000_000;

/// A store over a fresh database, and what keeps that database alive.
struct TestDb {
    store: Store,
    url: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("records.db").display()
        );
        TestDb::open(url, Some(dir)).await
    }

    async fn postgres() -> TestDb {
        let url = support::postgres::shared().create_database();
        TestDb::open(url, None).await
    }

    async fn open(url: String, dir: Option<TempDir>) -> TestDb {
        let store = Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("open the store at {url}: {e}"));
        TestDb {
            store,
            url,
            _dir: dir,
        }
    }
}

/// One `#[tokio::test]` per behaviour and backend, named `<backend>::<behaviour>`.
macro_rules! on_backend {
    ($backend:ident; $($behaviour:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let db = super::TestDb::$backend().await;
                    super::$behaviour(&db.store).await;
                    db.store.close().await;
                }
            )+

            #[tokio::test]
            async fn reopening_keeps_schema_and_records() {
                let db = super::TestDb::$backend().await;
                super::reopening_keeps_schema_and_records(db.store, &db.url).await;
            }
        }
    };
}

macro_rules! on_both_backends {
    ($($behaviour:ident),+ $(,)?) => {
        on_backend!(sqlite; $($behaviour),+);
        on_backend!(postgres; $($behaviour),+);
    };
}

on_both_backends!(
    // users
    created_user_is_counted_and_found_by_id,
    duplicate_username_is_a_conflict,
    credentials_carry_the_password_hash,
    users_are_listed_by_username,
    profile_update_changes_name_and_password,
    profile_update_to_a_taken_username_is_a_conflict,
    // sign-in sessions
    auth_session_finds_its_user_until_it_expires,
    deleted_auth_session_no_longer_signs_in,
    // one-time tokens
    one_time_token_works_once,
    one_time_token_without_account_names_none,
    one_time_token_is_consumed_once_under_concurrency,
    expired_one_time_token_is_refused,
    one_time_token_for_another_purpose_is_refused,
    unknown_one_time_token_is_refused,
    // disputes
    dispute_keeps_its_parties_in_order,
    duplicate_case_number_is_a_conflict_and_leaves_nothing,
    disputes_are_listed_newest_first_and_by_mediator,
    dispute_update_changes_only_the_given_fields,
    unknown_dispute_is_none,
    // sessions
    session_is_created_scheduled,
    session_goes_live_only_from_scheduled,
    session_ends_once,
    sessions_of_dispute_are_listed_newest_first,
    session_of_unknown_dispute_is_refused,
    // invitations
    invitation_is_found_by_id_and_token_hash,
    duplicate_invitation_token_is_a_conflict,
    revoking_keeps_the_first_revocation_time,
    touching_an_invitation_records_its_last_use,
    invitations_of_session_are_listed_in_creation_order,
    // session events
    session_events_come_back_in_time_order,
    recording_files_are_filed_with_their_outcome,
    unfinished_recordings_are_marked_interrupted_after_a_restart,
    unfinished_composites_are_marked_interrupted_after_a_restart,
    ended_recordings_without_a_manifest_are_found_after_a_restart,
    audit_entries_come_back_in_order,
    // resume seats
    a_resume_seat_is_replaced_held_and_deleted,
    resume_seats_go_with_their_invitation_or_session,
    seats_of_a_stopped_run_are_held_from_its_last_sign_of_life,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

async fn mediator(store: &Store, id: &str) -> User {
    store
        .create_user(
            id,
            &format!("user-{id}"),
            &format!("Mediator {id}"),
            AccountRole::Mediator,
            Some("$argon2id$hash"),
            T0,
        )
        .await
        .expect("create a mediator")
}

fn new_dispute(case_number: &str, mediator_id: &str, parties: &[(&str, &str)]) -> NewDispute {
    NewDispute {
        case_number: case_number.to_owned(),
        title: format!("Case {case_number}"),
        category: "boundary".to_owned(),
        level: DisputeLevel::Village,
        description: "Two neighbours disagree about a fence.".to_owned(),
        parties: parties
            .iter()
            .map(|(name, phone)| Party {
                name: (*name).to_owned(),
                phone: (*phone).to_owned(),
            })
            .collect(),
        mediator_id: mediator_id.to_owned(),
    }
}

/// A mediator, a dispute and a scheduled session `s1` under it.
async fn scheduled_session(store: &Store) -> String {
    mediator(store, "m1").await;
    store
        .create_dispute("d1", &new_dispute("2025-001", "m1", &[]), T0)
        .await
        .expect("create a dispute");
    store
        .create_session("s1", "d1", true, None, T0)
        .await
        .expect("create a session");
    "s1".to_owned()
}

fn new_invitation(session_id: &str, token_hash: &str, name: &str) -> NewInvitation {
    NewInvitation {
        session_id: session_id.to_owned(),
        token_hash: token_hash.to_owned(),
        role: InviteeRole::Party,
        name: name.to_owned(),
        phone: "13800000000".to_owned(),
        expires_at: T0 + 86_400_000,
    }
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, field: &str) {
    match result {
        Err(StoreError::Conflict(named)) => assert_eq!(named, field),
        other => panic!("expected a conflict on {field}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Users

async fn created_user_is_counted_and_found_by_id(store: &Store) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let created = store
        .create_user(
            "u1",
            "zhang",
            "张调解员",
            AccountRole::Admin,
            Some("$argon2id$x"),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        (created.id.as_str(), created.username.as_str()),
        ("u1", "zhang")
    );
    assert_eq!(created.display_name, "张调解员");
    assert_eq!(created.role, AccountRole::Admin);
    assert_eq!(store.count_users().await.unwrap(), 1);

    let found = store.user("u1").await.unwrap().expect("user u1");
    assert_eq!(found.username, "zhang");
    assert_eq!(found.display_name, "张调解员");
    assert_eq!(found.role, AccountRole::Admin);
    assert!(store.user("nobody").await.unwrap().is_none());
}

async fn duplicate_username_is_a_conflict(store: &Store) {
    store
        .create_user("u1", "li", "Li", AccountRole::Mediator, None, T0)
        .await
        .unwrap();
    let again = store
        .create_user("u2", "li", "Another Li", AccountRole::Staff, None, T0 + 1)
        .await;
    assert_conflict(again, "username");
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert!(store.user("u2").await.unwrap().is_none());
}

async fn credentials_carry_the_password_hash(store: &Store) {
    store
        .create_user(
            "u1",
            "wang",
            "Wang",
            AccountRole::Mediator,
            Some("$argon2id$wang"),
            T0,
        )
        .await
        .unwrap();
    // An account without a password (e.g. the demo account) stores NULL.
    store
        .create_user("u2", "demo", "Demo", AccountRole::Staff, None, T0)
        .await
        .unwrap();

    let wang = store.credentials("wang").await.unwrap().expect("wang");
    assert_eq!(wang.user.id, "u1");
    assert_eq!(wang.user.role, AccountRole::Mediator);
    assert_eq!(wang.password_hash.as_deref(), Some("$argon2id$wang"));

    let demo = store.credentials("demo").await.unwrap().expect("demo");
    assert_eq!(demo.user.id, "u2");
    assert_eq!(demo.password_hash, None);

    assert!(store.credentials("nobody").await.unwrap().is_none());
}

async fn users_are_listed_by_username(store: &Store) {
    let accounts = [
        ("u1", "wang"),
        ("u2", "chen"),
        ("u3", "Zhao"),
        ("u4", "李四"),
        ("u5", "li"),
    ];
    for (id, username) in accounts {
        store
            .create_user(id, username, username, AccountRole::Staff, None, T0)
            .await
            .unwrap();
    }
    let usernames: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.username)
        .collect();
    // Byte order, whatever the database's collation.
    assert_eq!(usernames, ["Zhao", "chen", "li", "wang", "李四"]);
}

async fn profile_update_changes_name_and_password(store: &Store) {
    store
        .create_user("u1", "admin", "Admin", AccountRole::Admin, None, T0)
        .await
        .unwrap();
    store
        .set_user_profile("u1", "zhao", "Zhao", "$argon2id$new")
        .await
        .unwrap();
    assert!(store.credentials("admin").await.unwrap().is_none());
    let zhao = store.credentials("zhao").await.unwrap().expect("zhao");
    assert_eq!(zhao.user.id, "u1");
    assert_eq!(zhao.user.display_name, "Zhao");
    assert_eq!(zhao.user.role, AccountRole::Admin);
    assert_eq!(zhao.password_hash.as_deref(), Some("$argon2id$new"));
}

async fn profile_update_to_a_taken_username_is_a_conflict(store: &Store) {
    mediator(store, "a").await;
    mediator(store, "b").await;
    let taken = store
        .set_user_profile("b", "user-a", "B", "$argon2id$b")
        .await;
    assert_conflict(taken, "username");
    assert_eq!(store.user("b").await.unwrap().unwrap().username, "user-b");
}

// ---------------------------------------------------------------------------------------------
// Sign-in sessions

async fn auth_session_finds_its_user_until_it_expires(store: &Store) {
    mediator(store, "m1").await;
    store
        .create_auth_session("cookie-hash", "m1", T0, T0 + 1_000)
        .await
        .unwrap();
    let user = store
        .user_for_auth_session("cookie-hash", T0 + 999)
        .await
        .unwrap()
        .expect("signed in before expiry");
    assert_eq!(user.id, "m1");
    assert!(store
        .user_for_auth_session("cookie-hash", T0 + 1_000)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .user_for_auth_session("other-hash", T0)
        .await
        .unwrap()
        .is_none());
}

async fn deleted_auth_session_no_longer_signs_in(store: &Store) {
    mediator(store, "m1").await;
    store
        .create_auth_session("cookie-hash", "m1", T0, T0 + 1_000)
        .await
        .unwrap();
    store.delete_auth_session("cookie-hash").await.unwrap();
    assert!(store
        .user_for_auth_session("cookie-hash", T0)
        .await
        .unwrap()
        .is_none());
    // Deleting what is not there is not an error (signing out twice).
    store.delete_auth_session("cookie-hash").await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// One-time tokens

async fn one_time_token_works_once(store: &Store) {
    mediator(store, "m1").await;
    store
        .create_one_time_token("setup-hash", "setup", Some("m1"), T0, T0 + 1_000)
        .await
        .unwrap();
    assert!(store
        .one_time_token_valid("setup-hash", "setup", T0 + 1)
        .await
        .unwrap());
    // Checking does not use it up.
    assert!(store
        .one_time_token_valid("setup-hash", "setup", T0 + 1)
        .await
        .unwrap());

    let first = store
        .consume_one_time_token("setup-hash", "setup", T0 + 2)
        .await
        .unwrap();
    assert_eq!(first, Some(Some("m1".to_owned())));
    let second = store
        .consume_one_time_token("setup-hash", "setup", T0 + 3)
        .await
        .unwrap();
    assert_eq!(second, None);
    assert!(!store
        .one_time_token_valid("setup-hash", "setup", T0 + 3)
        .await
        .unwrap());
}

async fn one_time_token_without_account_names_none(store: &Store) {
    store
        .create_one_time_token("first-start", "setup", None, T0, T0 + 1_000)
        .await
        .unwrap();
    let used = store
        .consume_one_time_token("first-start", "setup", T0 + 1)
        .await
        .unwrap();
    assert_eq!(used, Some(None));
}

async fn one_time_token_is_consumed_once_under_concurrency(store: &Store) {
    store
        .create_one_time_token("race", "demo", None, T0, T0 + 1_000)
        .await
        .unwrap();
    let (a, b, c) = tokio::join!(
        store.consume_one_time_token("race", "demo", T0 + 1),
        store.consume_one_time_token("race", "demo", T0 + 2),
        store.consume_one_time_token("race", "demo", T0 + 3),
    );
    let winners = [a.unwrap(), b.unwrap(), c.unwrap()]
        .into_iter()
        .filter(Option::is_some)
        .count();
    assert_eq!(winners, 1);
}

async fn expired_one_time_token_is_refused(store: &Store) {
    store
        .create_one_time_token("old", "demo", None, T0, T0 + 1_000)
        .await
        .unwrap();
    assert!(store
        .one_time_token_valid("old", "demo", T0 + 999)
        .await
        .unwrap());
    assert!(!store
        .one_time_token_valid("old", "demo", T0 + 1_000)
        .await
        .unwrap());
    let used = store
        .consume_one_time_token("old", "demo", T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(used, None);
}

async fn one_time_token_for_another_purpose_is_refused(store: &Store) {
    store
        .create_one_time_token("tok", "demo", None, T0, T0 + 1_000)
        .await
        .unwrap();
    assert!(!store
        .one_time_token_valid("tok", "setup", T0 + 1)
        .await
        .unwrap());
    let wrong = store
        .consume_one_time_token("tok", "setup", T0 + 1)
        .await
        .unwrap();
    assert_eq!(wrong, None);
    // The refused attempt did not use it up.
    let right = store
        .consume_one_time_token("tok", "demo", T0 + 2)
        .await
        .unwrap();
    assert_eq!(right, Some(None));
}

async fn unknown_one_time_token_is_refused(store: &Store) {
    assert!(!store
        .one_time_token_valid("nothing", "setup", T0)
        .await
        .unwrap());
    let used = store
        .consume_one_time_token("nothing", "setup", T0)
        .await
        .unwrap();
    assert_eq!(used, None);
}

// ---------------------------------------------------------------------------------------------
// Disputes

async fn dispute_keeps_its_parties_in_order(store: &Store) {
    mediator(store, "m1").await;
    let parties = [
        ("王五", "13900000001"),
        ("Anna", ""),
        ("赵六", "13900000003"),
    ];
    let created = store
        .create_dispute("d1", &new_dispute("2025-007", "m1", &parties), T0)
        .await
        .unwrap();
    assert_eq!(created.id, "d1");
    assert_eq!(created.case_number, "2025-007");
    assert_eq!(created.title, "Case 2025-007");
    assert_eq!(created.category, "boundary");
    assert_eq!(created.level, DisputeLevel::Village);
    assert_eq!(created.status, DisputeStatus::Open);
    assert_eq!(
        created.description,
        "Two neighbours disagree about a fence."
    );
    assert_eq!(created.outcome, "");
    assert_eq!(created.mediator_id, "m1");
    assert_eq!((created.created_at, created.updated_at), (T0, T0));
    let names: Vec<&str> = created.parties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["王五", "Anna", "赵六"]);
    assert_eq!(created.parties[0].phone, "13900000001");
    assert_eq!(created.parties[1].phone, "");

    let read = store.dispute("d1").await.unwrap().expect("dispute d1");
    assert_eq!(read.parties, created.parties);
    assert_eq!(read.case_number, "2025-007");
}

async fn duplicate_case_number_is_a_conflict_and_leaves_nothing(store: &Store) {
    mediator(store, "m1").await;
    store
        .create_dispute("d1", &new_dispute("2025-001", "m1", &[("A", "1")]), T0)
        .await
        .unwrap();
    let again = store
        .create_dispute("d2", &new_dispute("2025-001", "m1", &[("B", "2")]), T0 + 1)
        .await;
    assert_conflict(again, "case number");
    assert!(store.dispute("d2").await.unwrap().is_none());
    assert_eq!(store.disputes(None).await.unwrap().len(), 1);
    // The same id can be used afterwards: the failed insert left no parties behind.
    let d2 = store
        .create_dispute("d2", &new_dispute("2025-002", "m1", &[("C", "3")]), T0 + 2)
        .await
        .unwrap();
    assert_eq!(d2.parties.len(), 1);
    assert_eq!(d2.parties[0].name, "C");
}

async fn disputes_are_listed_newest_first_and_by_mediator(store: &Store) {
    mediator(store, "m1").await;
    mediator(store, "m2").await;
    let cases = [("d1", "m1", 1), ("d2", "m2", 2), ("d3", "m1", 3)];
    for (id, mediator_id, offset) in cases {
        store
            .create_dispute(
                id,
                &new_dispute(&format!("C-{id}"), mediator_id, &[("P", "")]),
                T0 + offset,
            )
            .await
            .unwrap();
    }
    let ids = |disputes: Vec<concord_signaling::store::Dispute>| -> Vec<String> {
        disputes.into_iter().map(|d| d.id).collect()
    };
    assert_eq!(ids(store.disputes(None).await.unwrap()), ["d3", "d2", "d1"]);
    assert_eq!(ids(store.disputes(Some("m1")).await.unwrap()), ["d3", "d1"]);
    assert_eq!(ids(store.disputes(Some("m2")).await.unwrap()), ["d2"]);
    assert!(store.disputes(Some("nobody")).await.unwrap().is_empty());
    // Listed disputes carry their parties too.
    assert!(store
        .disputes(None)
        .await
        .unwrap()
        .iter()
        .all(|d| d.parties.len() == 1));
}

async fn dispute_update_changes_only_the_given_fields(store: &Store) {
    mediator(store, "m1").await;
    let before = store
        .create_dispute("d1", &new_dispute("2025-001", "m1", &[("A", "1")]), T0)
        .await
        .unwrap();

    let settled = DisputeChanges {
        status: Some(DisputeStatus::Settled),
        outcome: Some("Fence moved 20 cm.".to_owned()),
        ..DisputeChanges::default()
    };
    let after = store
        .update_dispute("d1", &settled, T0 + 50)
        .await
        .unwrap()
        .expect("dispute d1");
    assert_eq!(after.status, DisputeStatus::Settled);
    assert_eq!(after.outcome, "Fence moved 20 cm.");
    assert!(
        !after.record_by_default,
        "not recorded by default unless asked"
    );
    assert_eq!(after.title, before.title);
    assert_eq!(after.category, before.category);
    assert_eq!(after.level, before.level);
    assert_eq!(after.description, before.description);
    assert_eq!(after.parties, before.parties);
    assert_eq!((after.created_at, after.updated_at), (T0, T0 + 50));

    let escalated = DisputeChanges {
        title: Some("Fence, escalated".to_owned()),
        category: Some("land".to_owned()),
        level: Some(DisputeLevel::Township),
        status: Some(DisputeStatus::Escalated),
        description: Some("Now with a well.".to_owned()),
        outcome: None,
        record_by_default: Some(true),
    };
    let after = store
        .update_dispute("d1", &escalated, T0 + 60)
        .await
        .unwrap()
        .expect("dispute d1");
    assert_eq!(after.title, "Fence, escalated");
    assert_eq!(after.category, "land");
    assert_eq!(after.level, DisputeLevel::Township);
    assert_eq!(after.status, DisputeStatus::Escalated);
    assert_eq!(after.description, "Now with a well.");
    assert_eq!(after.outcome, "Fence moved 20 cm.");
    assert!(after.record_by_default, "record_by_default is changed");
    assert_eq!(after.updated_at, T0 + 60);

    // No changes at all still stamps the update time.
    let touched = store
        .update_dispute("d1", &DisputeChanges::default(), T0 + 70)
        .await
        .unwrap()
        .expect("dispute d1");
    assert_eq!(touched.title, "Fence, escalated");
    assert_eq!(touched.updated_at, T0 + 70);
}

async fn unknown_dispute_is_none(store: &Store) {
    assert!(store.dispute("nope").await.unwrap().is_none());
    let changes = DisputeChanges {
        title: Some("x".to_owned()),
        ..DisputeChanges::default()
    };
    assert!(store
        .update_dispute("nope", &changes, T0)
        .await
        .unwrap()
        .is_none());
}

// ---------------------------------------------------------------------------------------------
// Sessions

async fn session_is_created_scheduled(store: &Store) {
    mediator(store, "m1").await;
    store
        .create_dispute("d1", &new_dispute("2025-001", "m1", &[]), T0)
        .await
        .unwrap();
    let with_lobby = store
        .create_session("s1", "d1", true, Some(T0 + 3_600_000), T0 + 1)
        .await
        .unwrap();
    assert_eq!(with_lobby.id, "s1");
    assert_eq!(with_lobby.dispute_id, "d1");
    assert_eq!(with_lobby.status, SessionStatus::Scheduled);
    assert!(with_lobby.lobby_enabled);
    assert_eq!(with_lobby.scheduled_at, Some(T0 + 3_600_000));
    assert_eq!((with_lobby.started_at, with_lobby.ended_at), (None, None));
    assert_eq!(with_lobby.created_at, T0 + 1);

    let open_door = store
        .create_session("s2", "d1", false, None, T0 + 2)
        .await
        .unwrap();
    assert!(!open_door.lobby_enabled);
    assert_eq!(open_door.scheduled_at, None);

    let read = store.session("s1").await.unwrap().expect("session s1");
    assert!(read.lobby_enabled);
    assert_eq!(read.scheduled_at, Some(T0 + 3_600_000));
    assert!(store.session("nope").await.unwrap().is_none());
}

async fn session_goes_live_only_from_scheduled(store: &Store) {
    let id = scheduled_session(store).await;
    store.mark_session_live(&id, T0 + 10).await.unwrap();
    let live = store.session(&id).await.unwrap().unwrap();
    assert_eq!(live.status, SessionStatus::Live);
    assert_eq!(live.started_at, Some(T0 + 10));

    // The host coming back does not move the start.
    store.mark_session_live(&id, T0 + 20).await.unwrap();
    assert_eq!(
        store.session(&id).await.unwrap().unwrap().started_at,
        Some(T0 + 10)
    );

    // An ended session never goes live again.
    assert!(store.mark_session_ended(&id, T0 + 30).await.unwrap());
    store.mark_session_live(&id, T0 + 40).await.unwrap();
    let ended = store.session(&id).await.unwrap().unwrap();
    assert_eq!(ended.status, SessionStatus::Ended);
    assert_eq!(ended.started_at, Some(T0 + 10));

    // Unknown sessions are ignored.
    store.mark_session_live("nope", T0).await.unwrap();
}

async fn session_ends_once(store: &Store) {
    let id = scheduled_session(store).await;
    // A scheduled session can end without having been live.
    assert!(store.mark_session_ended(&id, T0 + 30).await.unwrap());
    assert!(!store.mark_session_ended(&id, T0 + 40).await.unwrap());
    let ended = store.session(&id).await.unwrap().unwrap();
    assert_eq!(ended.status, SessionStatus::Ended);
    assert_eq!(ended.ended_at, Some(T0 + 30));
    assert_eq!(ended.started_at, None);
    assert!(!store.mark_session_ended("nope", T0).await.unwrap());
}

async fn sessions_of_dispute_are_listed_newest_first(store: &Store) {
    mediator(store, "m1").await;
    for id in ["d1", "d2"] {
        store
            .create_dispute(id, &new_dispute(id, "m1", &[]), T0)
            .await
            .unwrap();
    }
    for (id, dispute, offset) in [("s1", "d1", 1), ("s2", "d2", 2), ("s3", "d1", 3)] {
        store
            .create_session(id, dispute, false, None, T0 + offset)
            .await
            .unwrap();
    }
    let ids: Vec<String> = store
        .sessions_of_dispute("d1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["s3", "s1"]);
    assert!(store.sessions_of_dispute("nope").await.unwrap().is_empty());
}

async fn session_of_unknown_dispute_is_refused(store: &Store) {
    let orphan = store.create_session("s1", "nope", false, None, T0).await;
    assert!(
        matches!(orphan, Err(StoreError::Database(_))),
        "expected a foreign-key error, got {orphan:?}"
    );
    assert!(store.session("s1").await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// Invitations

async fn invitation_is_found_by_id_and_token_hash(store: &Store) {
    let session = scheduled_session(store).await;
    let mut new = new_invitation(&session, "hash-1", "王五");
    new.role = InviteeRole::Expert;
    let created = store.create_invitation("i1", &new, T0 + 5).await.unwrap();
    assert_eq!(created.id, "i1");
    assert_eq!(created.session_id, session);
    assert_eq!(created.role, InviteeRole::Expert);
    assert_eq!(created.name, "王五");
    assert_eq!(created.phone, "13800000000");
    assert_eq!(
        (created.created_at, created.expires_at),
        (T0 + 5, T0 + 86_400_000)
    );
    assert_eq!((created.revoked_at, created.last_used_at), (None, None));

    for read in [
        store.invitation("i1").await.unwrap(),
        store.invitation_by_token_hash("hash-1").await.unwrap(),
    ] {
        let read = read.expect("invitation i1");
        assert_eq!(read.id, "i1");
        assert_eq!(read.session_id, session);
        assert_eq!(read.role, InviteeRole::Expert);
        assert_eq!(read.name, "王五");
        assert_eq!(read.phone, "13800000000");
        assert_eq!(
            (read.created_at, read.expires_at),
            (T0 + 5, T0 + 86_400_000)
        );
        assert_eq!((read.revoked_at, read.last_used_at), (None, None));
    }
    assert!(store
        .invitation_by_token_hash("hash-2")
        .await
        .unwrap()
        .is_none());
    assert!(store.invitation("nope").await.unwrap().is_none());
}

async fn duplicate_invitation_token_is_a_conflict(store: &Store) {
    let session = scheduled_session(store).await;
    store
        .create_invitation("i1", &new_invitation(&session, "same", "A"), T0)
        .await
        .unwrap();
    let again = store
        .create_invitation("i2", &new_invitation(&session, "same", "B"), T0)
        .await;
    assert_conflict(again, "token");
    assert!(store.invitation("i2").await.unwrap().is_none());
}

async fn revoking_keeps_the_first_revocation_time(store: &Store) {
    let session = scheduled_session(store).await;
    store
        .create_invitation("i1", &new_invitation(&session, "h", "A"), T0)
        .await
        .unwrap();
    let revoked = store
        .revoke_invitation("i1", T0 + 100)
        .await
        .unwrap()
        .expect("invitation i1");
    assert_eq!(revoked.revoked_at, Some(T0 + 100));
    let again = store
        .revoke_invitation("i1", T0 + 200)
        .await
        .unwrap()
        .expect("invitation i1");
    assert_eq!(again.revoked_at, Some(T0 + 100));
    assert!(store.revoke_invitation("nope", T0).await.unwrap().is_none());
}

async fn touching_an_invitation_records_its_last_use(store: &Store) {
    let session = scheduled_session(store).await;
    store
        .create_invitation("i1", &new_invitation(&session, "h", "A"), T0)
        .await
        .unwrap();
    store.touch_invitation("i1", T0 + 50).await.unwrap();
    let used = store.invitation("i1").await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(T0 + 50));
    assert_eq!(used.revoked_at, None);
    store.touch_invitation("i1", T0 + 60).await.unwrap();
    let used = store.invitation("i1").await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(T0 + 60));
    // Unknown ids are ignored.
    store.touch_invitation("nope", T0).await.unwrap();
}

async fn invitations_of_session_are_listed_in_creation_order(store: &Store) {
    let session = scheduled_session(store).await;
    store
        .create_session("s2", "d1", false, None, T0)
        .await
        .unwrap();
    for (id, session_id, offset) in [("i1", "s1", 3), ("i2", "s2", 2), ("i3", "s1", 1)] {
        store
            .create_invitation(
                id,
                &new_invitation(session_id, &format!("hash-{id}"), id),
                T0 + offset,
            )
            .await
            .unwrap();
    }
    let ids: Vec<String> = store
        .invitations_of_session(&session)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["i3", "i1"]);
    assert!(store
        .invitations_of_session("nope")
        .await
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Session events

async fn session_events_come_back_in_time_order(store: &Store) {
    let session = scheduled_session(store).await;
    store
        .create_session("s2", "d1", false, None, T0)
        .await
        .unwrap();
    let event = |at: i64, kind: SessionEventKind| SessionEvent {
        at,
        kind,
        actor: "王五".to_owned(),
        detail: format!("{kind} at {at}"),
    };
    // Recorded out of time order; "e3" and "e2" share a millisecond and come back in the order
    // they were filed, not by id.
    let recorded = [
        ("e4", "s1", event(T0 + 30, SessionEventKind::SessionEnded)),
        ("e3", "s1", event(T0 + 20, SessionEventKind::Admitted)),
        ("e1", "s1", event(T0 + 10, SessionEventKind::Arrived)),
        ("e2", "s1", event(T0 + 20, SessionEventKind::Refused)),
        ("x1", "s2", event(T0 + 15, SessionEventKind::Arrived)),
    ];
    for (id, session_id, event) in &recorded {
        store
            .record_session_event(id, session_id, event)
            .await
            .unwrap();
    }
    let events = store.session_events(&session).await.unwrap();
    let kinds: Vec<(i64, &str)> = events.iter().map(|e| (e.at, e.kind.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (T0 + 10, "arrived"),
            (T0 + 20, "admitted"),
            (T0 + 20, "refused"),
            (T0 + 30, "session_ended"),
        ]
    );
    assert_eq!(events[0].actor, "王五");
    assert_eq!(events[0].detail, format!("arrived at {}", T0 + 10));
    assert!(store.session_events("nope").await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Resume seats

/// Seat `participant` of session `s1` held on `holder`, resumed by the token hashed `hash`.
fn seat(participant: &str, holder: SeatHolder, hash: &str, issued_at: i64) -> ResumeSeat {
    let host = matches!(holder, SeatHolder::Account(_));
    ResumeSeat {
        participant_id: participant.to_owned(),
        session_id: "s1".to_owned(),
        token_hash: hash.to_owned(),
        holder,
        name: format!("Member {participant}"),
        role: if host {
            ParticipantRole::Mediator
        } else {
            ParticipantRole::Party
        },
        is_host: host,
        issued_at,
        dropped_at: None,
        held_until: None,
    }
}

/// A scheduled session `s1` with invitation `i1`: a party's seat `p1` on it and the mediator's
/// `p2`, both connected.
async fn two_seats(store: &Store) -> (ResumeSeat, ResumeSeat) {
    let session = scheduled_session(store).await;
    store
        .create_invitation("i1", &new_invitation(&session, "inv-hash", "王五"), T0)
        .await
        .unwrap();
    let party = seat("p1", SeatHolder::Invitation("i1".into()), "hash-p1", T0);
    let host = seat("p2", SeatHolder::Account("m1".into()), "hash-p2", T0 + 1);
    store.save_resume_seat(&party).await.unwrap();
    store.save_resume_seat(&host).await.unwrap();
    (party, host)
}

async fn a_resume_seat_is_replaced_held_and_deleted(store: &Store) {
    let (party, host) = two_seats(store).await;
    assert_eq!(
        store.resume_seat_by_token_hash("hash-p1").await.unwrap(),
        Some(party.clone())
    );
    assert_eq!(
        store.resume_seats_of_session("s1").await.unwrap(),
        [party.clone(), host.clone()]
    );

    // Dropped: held for a while.
    store
        .hold_resume_seat("p1", T0 + 10, T0 + 70)
        .await
        .unwrap();
    let held = store.resume_seat_by_token_hash("hash-p1").await.unwrap();
    let held = held.expect("the held seat");
    assert_eq!(
        (held.dropped_at, held.held_until),
        (Some(T0 + 10), Some(T0 + 70))
    );

    // Resumed: the next token replaces the used one, and nothing is held any more.
    let next = ResumeSeat {
        token_hash: "hash-p1-next".to_owned(),
        issued_at: T0 + 20,
        ..party.clone()
    };
    store.save_resume_seat(&next).await.unwrap();
    assert_eq!(
        store.resume_seat_by_token_hash("hash-p1").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .resume_seat_by_token_hash("hash-p1-next")
            .await
            .unwrap(),
        Some(next)
    );

    // Left: gone.
    store.delete_resume_seat("p1").await.unwrap();
    assert_eq!(store.resume_seats_of_session("s1").await.unwrap(), [host]);
}

async fn resume_seats_go_with_their_invitation_or_session(store: &Store) {
    let (_, host) = two_seats(store).await;
    store.delete_resume_seats_of_invitation("i1").await.unwrap();
    assert_eq!(store.resume_seats_of_session("s1").await.unwrap(), [host]);
    store.delete_resume_seats_of_session("s1").await.unwrap();
    assert!(store
        .resume_seats_of_session("s1")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.resume_seat_by_token_hash("hash-p2").await.unwrap(),
        None
    );
}

async fn seats_of_a_stopped_run_are_held_from_its_last_sign_of_life(store: &Store) {
    assert_eq!(store.last_alive().await.unwrap(), None);
    store.mark_alive(T0).await.unwrap();
    store.mark_alive(T0 + 5).await.unwrap();
    assert_eq!(store.last_alive().await.unwrap(), Some(T0 + 5));

    // p1 was connected when the run stopped; p2 had dropped, and its hold ends before now.
    let (party, _) = two_seats(store).await;
    store.hold_resume_seat("p2", T0 + 1, T0 + 6).await.unwrap();
    let held = store
        .hold_seats_of_stopped_run(T0 + 5, T0 + 65, T0 + 7)
        .await
        .unwrap();
    assert_eq!(held, 1);
    let expected = ResumeSeat {
        dropped_at: Some(T0 + 5),
        held_until: Some(T0 + 65),
        ..party
    };
    assert_eq!(
        store.resume_seats_of_session("s1").await.unwrap(),
        [expected]
    );
}

// ---------------------------------------------------------------------------------------------
// Reopening (a server restart): the migration runs again without harm and records remain.

async fn reopening_keeps_schema_and_records(store: Store, url: &str) {
    mediator(&store, "m1").await;
    store.close().await;
    let reopened = Store::open(url).await.expect("reopen the store");
    assert_eq!(reopened.count_users().await.unwrap(), 1);
    assert_eq!(
        reopened.user("m1").await.unwrap().unwrap().username,
        "user-m1"
    );
    reopened.close().await;
}

// ---------------------------------------------------------------------------------------------
// Recordings and the audit log

/// A mediator, a dispute and a session to record.
async fn recorded_session(store: &Store) {
    mediator(store, "m1").await;
    store
        .create_dispute("d1", &new_dispute("2025-001", "m1", &[]), T0)
        .await
        .unwrap();
    store
        .create_session("s1", "d1", true, None, T0)
        .await
        .unwrap();
}

fn participant_file(id: &str, recording: &str, name: &str, at: i64) -> NewRecordingFile {
    NewRecordingFile {
        id: id.to_owned(),
        recording_id: recording.to_owned(),
        kind: FileKind::Participant,
        participant_name: name.to_owned(),
        participant_role: "party".to_owned(),
        path: format!("{recording}/{id}.webm"),
        started_at: at,
    }
}

async fn recording_files_are_filed_with_their_outcome(store: &Store) {
    recorded_session(store).await;
    let recording = store
        .create_recording("r1", "s1", "d1", "Mediator", T0 + 10)
        .await
        .unwrap();
    assert_eq!(recording.status, RecordingStatus::Recording);
    assert!(recording.files.is_empty());
    store
        .add_recording_file(&participant_file("f1", "r1", "张建国", T0 + 11))
        .await
        .unwrap();
    store
        .add_recording_file(&participant_file("f2", "r1", "李秀兰", T0 + 12))
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_recording_file(&participant_file("f1", "r1", "x", T0 + 13))
            .await,
        Err(StoreError::Conflict(_) | StoreError::Database(_))
    ));
    let outcome = FileOutcome {
        status: FileStatus::Complete,
        sha256: Some("ab".repeat(32)),
        size_bytes: Some(5_000_000_000),
        duration_ms: Some(600_000),
        ended_at: T0 + 600_011,
    };
    store.complete_recording_file("f1", &outcome).await.unwrap();
    store
        .finish_recording(
            "r1",
            RecordingStatus::Finished,
            T0 + 600_100,
            None,
            Some("cd"),
        )
        .await
        .unwrap();

    let listed = store.recordings_of_dispute("d1").await.unwrap();
    assert_eq!(listed.len(), 1);
    let recording = &listed[0];
    assert_eq!(recording.status, RecordingStatus::Finished);
    assert_eq!(recording.ended_at, Some(T0 + 600_100));
    assert_eq!(recording.manifest_sha256.as_deref(), Some("cd"));
    let names: Vec<&str> = recording
        .files
        .iter()
        .map(|f| f.participant_name.as_str())
        .collect();
    assert_eq!(names, ["张建国", "李秀兰"]);
    let first = &recording.files[0];
    assert_eq!(first.status, FileStatus::Complete);
    assert_eq!(
        first.size_bytes,
        Some(5_000_000_000),
        "sizes above 4 GiB survive"
    );
    assert_eq!(first.duration_ms, Some(600_000));
    assert_eq!(first.sha256.as_deref(), Some("ab".repeat(32).as_str()));
    assert_eq!(recording.files[1].status, FileStatus::Writing);

    let (file, owner) = store.recording_file("f2").await.unwrap().expect("f2");
    assert_eq!(file.path, "r1/f2.webm");
    assert_eq!(owner.id, "r1");
    assert!(store.recording_file("nope").await.unwrap().is_none());
}

async fn unfinished_recordings_are_marked_interrupted_after_a_restart(store: &Store) {
    recorded_session(store).await;
    store
        .create_recording("r1", "s1", "d1", "Mediator", T0)
        .await
        .unwrap();
    store
        .add_recording_file(&participant_file("f1", "r1", "A", T0))
        .await
        .unwrap();
    store
        .create_recording("r2", "s1", "d1", "Mediator", T0 + 1)
        .await
        .unwrap();
    store
        .finish_recording("r2", RecordingStatus::Finished, T0 + 5, None, None)
        .await
        .unwrap();

    let interrupted = store
        .interrupt_unfinished_recordings(T0 + 100)
        .await
        .unwrap();
    assert_eq!(interrupted, ["r1"]);
    let r1 = store.recording("r1").await.unwrap().expect("r1");
    assert_eq!(r1.status, RecordingStatus::Interrupted);
    assert_eq!(r1.ended_at, Some(T0 + 100));
    assert!(r1.error.is_some());
    assert_eq!(r1.files[0].status, FileStatus::Interrupted);
    let r2 = store.recording("r2").await.unwrap().expect("r2");
    assert_eq!(
        r2.status,
        RecordingStatus::Finished,
        "finished ones are left alone"
    );
    assert!(store
        .interrupt_unfinished_recordings(T0 + 200)
        .await
        .unwrap()
        .is_empty());
}

/// A file made after the recording (composite or manifest), as `kind`.
fn whole_file(id: &str, recording: &str, kind: FileKind, name: &str, at: i64) -> NewRecordingFile {
    NewRecordingFile {
        id: id.to_owned(),
        recording_id: recording.to_owned(),
        kind,
        participant_name: String::new(),
        participant_role: String::new(),
        path: format!("{recording}/{name}"),
        started_at: at,
    }
}

fn complete(at: i64) -> FileOutcome {
    FileOutcome {
        status: FileStatus::Complete,
        sha256: Some("ef".repeat(32)),
        size_bytes: Some(1_000),
        duration_ms: Some(10_000),
        ended_at: at,
    }
}

/// A finished recording `id` started at `at`, with one participant's complete file.
async fn finished_recording(store: &Store, id: &str, at: i64) {
    store
        .create_recording(id, "s1", "d1", "Mediator", at)
        .await
        .unwrap();
    let file = format!("{id}-p");
    store
        .add_recording_file(&participant_file(&file, id, "A", at))
        .await
        .unwrap();
    store
        .complete_recording_file(&file, &complete(at + 10))
        .await
        .unwrap();
    store
        .finish_recording(id, RecordingStatus::Finished, at + 10, None, None)
        .await
        .unwrap();
}

async fn unfinished_composites_are_marked_interrupted_after_a_restart(store: &Store) {
    recorded_session(store).await;
    // r1: ffmpeg was running; r2: the composite had not started; r3: filed complete before
    // the stop, not yet said `done`; r4 done and r5 failed are left alone.
    for (n, (id, status)) in [
        ("r1", CompositeStatus::Running),
        ("r2", CompositeStatus::Pending),
        ("r3", CompositeStatus::Running),
        ("r4", CompositeStatus::Done),
        ("r5", CompositeStatus::Failed),
    ]
    .into_iter()
    .enumerate()
    {
        let at = T0 + 100 * n as i64;
        finished_recording(store, id, at).await;
        store.set_composite_progress(id, status, 40).await.unwrap();
    }
    // r1's composite row was added and never completed (the server stopped in between).
    store
        .add_recording_file(&whole_file(
            "c1",
            "r1",
            FileKind::Composite,
            "composite.webm",
            T0 + 50,
        ))
        .await
        .unwrap();
    store
        .add_recording_file(&whole_file(
            "c3",
            "r3",
            FileKind::Composite,
            "composite.webm",
            T0 + 250,
        ))
        .await
        .unwrap();
    store
        .complete_recording_file("c3", &complete(T0 + 260))
        .await
        .unwrap();

    let interrupted = store
        .interrupt_unfinished_composites(T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(interrupted, ["r1", "r2"]);
    let composite = |r: &concord_signaling::store::Recording| {
        (r.composite_status, r.status, r.manifest_sha256.clone())
    };
    for id in ["r1", "r2"] {
        let r = store.recording(id).await.unwrap().expect(id);
        assert_eq!(
            composite(&r),
            (
                CompositeStatus::Interrupted,
                RecordingStatus::Finished,
                None
            ),
            "{id}: the recording itself stays finished"
        );
    }
    let r1 = store.recording("r1").await.unwrap().expect("r1");
    let c1 = r1
        .files
        .iter()
        .find(|f| f.id == "c1")
        .expect("the composite row is kept");
    assert_eq!(c1.status, FileStatus::Failed, "its file is not kept");
    assert_eq!(c1.ended_at, Some(T0 + 1_000));
    assert_eq!(
        r1.files[0].status,
        FileStatus::Complete,
        "participants' files are left alone"
    );
    let r3 = store.recording("r3").await.unwrap().expect("r3");
    assert_eq!(
        r3.composite_status,
        CompositeStatus::Done,
        "a composite filed complete was made"
    );
    assert_eq!(r3.composite_progress, 100);
    assert_eq!(r3.files[1].status, FileStatus::Complete);
    assert_eq!(
        store
            .recording("r4")
            .await
            .unwrap()
            .expect("r4")
            .composite_status,
        CompositeStatus::Done
    );
    assert_eq!(
        store
            .recording("r5")
            .await
            .unwrap()
            .expect("r5")
            .composite_status,
        CompositeStatus::Failed
    );
    assert!(store
        .interrupt_unfinished_composites(T0 + 2_000)
        .await
        .unwrap()
        .is_empty());
}

async fn ended_recordings_without_a_manifest_are_found_after_a_restart(store: &Store) {
    recorded_session(store).await;
    // r1 finished, r2 failed, r3 interrupted: no manifest, so listed.
    finished_recording(store, "r1", T0).await;
    finished_recording(store, "r2", T0 + 100).await;
    store
        .finish_recording(
            "r2",
            RecordingStatus::Failed,
            T0 + 110,
            Some("disk full"),
            None,
        )
        .await
        .unwrap();
    store
        .create_recording("r3", "s1", "d1", "Mediator", T0 + 200)
        .await
        .unwrap();
    store
        .add_recording_file(&participant_file("r3-p", "r3", "A", T0 + 200))
        .await
        .unwrap();
    store
        .interrupt_unfinished_recordings(T0 + 300)
        .await
        .unwrap();
    // r4 has its manifest; r5 is still recording; r6 failed before any file was opened.
    finished_recording(store, "r4", T0 + 400).await;
    store
        .add_recording_file(&whole_file(
            "m4",
            "r4",
            FileKind::Manifest,
            "manifest.json",
            T0 + 420,
        ))
        .await
        .unwrap();
    store
        .complete_recording_file("m4", &complete(T0 + 420))
        .await
        .unwrap();
    store
        .finish_recording("r4", RecordingStatus::Finished, T0 + 410, None, Some("ab"))
        .await
        .unwrap();
    store
        .create_recording("r5", "s1", "d1", "Mediator", T0 + 500)
        .await
        .unwrap();
    store
        .add_recording_file(&participant_file("r5-p", "r5", "A", T0 + 500))
        .await
        .unwrap();
    store
        .create_recording("r6", "s1", "d1", "Mediator", T0 + 600)
        .await
        .unwrap();
    store
        .finish_recording(
            "r6",
            RecordingStatus::Failed,
            T0 + 600,
            Some("no room"),
            None,
        )
        .await
        .unwrap();

    let found = store.recordings_without_manifest().await.unwrap();
    let summary: Vec<(&str, RecordingStatus, usize)> = found
        .iter()
        .map(|r| (r.id.as_str(), r.status, r.files.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("r1", RecordingStatus::Finished, 1),
            ("r2", RecordingStatus::Failed, 1),
            ("r3", RecordingStatus::Interrupted, 1),
        ],
        "each with its files"
    );
    assert_eq!(found[1].error.as_deref(), Some("disk full"));
    assert_eq!(
        found[0].files[0].sha256.as_deref(),
        Some("ef".repeat(32).as_str())
    );

    // Once its manifest's hash is filed, a recording is no longer listed.
    store
        .finish_recording("r1", RecordingStatus::Finished, T0 + 10, None, Some("cd"))
        .await
        .unwrap();
    let ids: Vec<String> = store
        .recordings_without_manifest()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["r2", "r3"]);
}

async fn audit_entries_come_back_in_order(store: &Store) {
    for (i, action) in ["play", "download", "play"].iter().enumerate() {
        let entry = AuditEntry {
            at: T0 + i as i64,
            user_id: "u1".to_owned(),
            action: (*action).to_owned(),
            object_id: "f1".to_owned(),
            ip: "127.0.0.1".to_owned(),
        };
        store.record_audit(&format!("a{i}"), &entry).await.unwrap();
    }
    let actions: Vec<String> = store
        .audit_of("f1")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["play", "download", "play"]);
    assert!(store.audit_of("f2").await.unwrap().is_empty());
}

//! The OpenAPI 3.1 description of the REST API, served at `/api/openapi.json`.
//! Built from one table so each route is described once.

use std::sync::OnceLock;

use axum::Json;
use serde_json::{json, Map, Value};

/// (method, path, summary, who may call, request schema, response schema)
type Route = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);

const ROUTES: &[Route] = &[
    ("get", "/api/health", "Liveness", "anyone", None, "Health"),
    (
        "post",
        "/api/auth/login",
        "Sign in; sets the session cookie",
        "anyone",
        Some("Login"),
        "UserEnvelope",
    ),
    (
        "post",
        "/api/auth/logout",
        "Sign out",
        "signed in",
        None,
        "Empty",
    ),
    (
        "post",
        "/api/auth/logout-everywhere",
        "End every sign-in of the account, this one included",
        "signed in",
        None,
        "Empty",
    ),
    (
        "post",
        "/api/auth/password",
        "Change the password (the current one is required); ends the account's other sign-ins",
        "signed in",
        Some("PasswordChange"),
        "Empty",
    ),
    (
        "get",
        "/api/auth/me",
        "The signed-in account",
        "signed in",
        None,
        "UserEnvelope",
    ),
    (
        "post",
        "/api/setup",
        "First-start administrator setup with the printed link's token",
        "setup token",
        Some("Setup"),
        "UserEnvelope",
    ),
    (
        "get",
        "/api/users",
        "List accounts",
        "admin",
        None,
        "UserList",
    ),
    (
        "post",
        "/api/users",
        "Create an account",
        "admin",
        Some("NewUser"),
        "UserEnvelope",
    ),
    (
        "patch",
        "/api/users/{id}",
        "Disable an account (its sign-ins end) or enable it again; not one's own",
        "admin",
        Some("AccountChange"),
        "UserEnvelope",
    ),
    (
        "get",
        "/api/disputes",
        "List disputes (a mediator sees their own)",
        "staff, mediator, admin",
        None,
        "DisputeList",
    ),
    (
        "post",
        "/api/disputes",
        "Open a dispute file",
        "mediator, admin",
        Some("NewDispute"),
        "DisputeEnvelope",
    ),
    (
        "get",
        "/api/disputes/{id}",
        "A dispute with its sessions",
        "staff, its mediator, admin",
        None,
        "DisputeDetail",
    ),
    (
        "patch",
        "/api/disputes/{id}",
        "Change a dispute (status, outcome, …)",
        "its mediator, admin",
        Some("DisputeChanges"),
        "DisputeEnvelope",
    ),
    (
        "post",
        "/api/disputes/{id}/sessions",
        "Open a session",
        "its mediator, admin",
        Some("NewSession"),
        "SessionEnvelope",
    ),
    (
        "get",
        "/api/sessions/{id}",
        "A session with its invitations and events",
        "staff, its mediator, admin",
        None,
        "SessionDetail",
    ),
    (
        "post",
        "/api/sessions/{id}/end",
        "End a session for everyone",
        "its mediator, admin",
        None,
        "SessionEnvelope",
    ),
    (
        "post",
        "/api/sessions/{id}/invitations",
        "Invite a person; the token is returned once",
        "its mediator, admin",
        Some("NewInvitation"),
        "CreatedInvitation",
    ),
    (
        "post",
        "/api/sessions/{id}/expert-invitations",
        "Invite an expert from the roster into the session, advising the mediator only or the whole room: a link to send them. The parties in the room are asked whether they accept (answer_expert); the expert comes in once every party has",
        "its mediator, admin",
        Some("NewExpertInvitation"),
        "CreatedExpertInvitation",
    ),
    (
        "get",
        "/api/experts",
        "The expert roster (?specialty= one specialty)",
        "any account",
        None,
        "ExpertList",
    ),
    (
        "post",
        "/api/experts",
        "Add an expert to the roster",
        "mediator, admin",
        Some("NewExpert"),
        "ExpertEnvelope",
    ),
    (
        "post",
        "/api/sessions/{id}/documents",
        "Share a photo or PDF in the session's room (the body is the file, at most 15 MB; ?name= its name). The type is read from the bytes: 415 for anything else. Kept as evidence with its SHA-256; everyone in the room is sent document_shared. 403 for observers, for parties while the mediator does not allow it, and for anyone not in the room now",
        "a member of the room now: an invitee by their link's token as a bearer token, staff by sign-in",
        None,
        "DocumentEnvelope",
    ),
    (
        "get",
        "/api/documents/{id}",
        "A shared photo or document's bytes",
        "the session's invitees (bearer token), staff who may read the dispute",
        None,
        "Empty",
    ),
    (
        "get",
        "/api/documents/{id}/pages/{page}",
        "Page {page} (from 1) of a shared PDF as a PNG picture",
        "the session's invitees (bearer token), staff who may read the dispute",
        None,
        "Empty",
    ),
    (
        "post",
        "/api/invitations/{id}/revoke",
        "Withdraw an invitation",
        "its mediator, admin",
        None,
        "InvitationEnvelope",
    ),
    (
        "get",
        "/api/invitations/inspect",
        "What an invitation token opens (rate-limited)",
        "anyone",
        None,
        "InspectedInvitation",
    ),
    (
        "get",
        "/api/disputes/{id}/recordings",
        "A dispute's recordings with their files, hashes and audit trail",
        "staff, its mediator, admin (invitees: 403)",
        None,
        "RecordingList",
    ),
    (
        "get",
        "/api/media/stats",
        "The SFU's counters per running room: frames in and out, datagrams sent, hold time p50/p99/max in µs (?reset=true starts them again)",
        "admin",
        None,
        "MediaStats",
    ),
    (
        "get",
        "/api/recordings/files/{id}",
        "A recording file (Range requests; ?download=1 as attachment); every request is audited",
        "staff, its mediator, admin (invitees: 403)",
        None,
        "Empty",
    ),
];

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let int = json!({"type": "integer", "format": "int64"});
    let opt_int = json!({"type": ["integer", "null"], "format": "int64"});
    let role = json!({"type": "string", "enum": ["admin", "mediator", "staff"]});
    let invitee = json!({"type": "string", "enum": ["party", "expert", "observer"]});
    let level = json!({"type": "string", "enum": ["village", "township", "county"]});
    let status = json!({"type": "string", "enum": ["open", "in_mediation", "settled", "escalated", "closed"]});
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let mut schemas = json!({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": string, "message": string}}}},
        "Health": {"type": "object", "properties": {"status": string}},
        "Empty": {"type": "object"},
        "User": {"type": "object", "properties": {"id": string, "username": string, "display_name": string, "role": role, "disabled": {"type": "boolean"}}},
        "PasswordChange": {"type": "object", "required": ["current_password", "new_password"], "properties": {"current_password": string, "new_password": string}},
        "AccountChange": {"type": "object", "required": ["disabled"], "properties": {"disabled": {"type": "boolean"}}},
        "UserEnvelope": {"type": "object", "properties": {"user": r("User")}},
        "UserList": {"type": "object", "properties": {"users": {"type": "array", "items": r("User")}}},
        "Login": {"type": "object", "required": ["username", "password"], "properties": {"username": string, "password": string}},
        "Setup": {"type": "object", "required": ["token", "username", "display_name", "password"],
            "properties": {"token": string, "username": string, "display_name": string, "password": string}},
        "NewUser": {"type": "object", "required": ["username", "display_name", "password", "role"],
            "properties": {"username": string, "display_name": string, "password": {"type": "string", "minLength": 10}, "role": role}},
        "Party": {"type": "object", "required": ["name"], "properties": {"name": string, "phone": string}},
        "Dispute": {"type": "object", "properties": {
            "id": string, "case_number": string, "title": string, "category": string, "level": level,
            "status": status, "description": string, "outcome": string,
            "parties": {"type": "array", "items": r("Party")}, "mediator_id": string,
            "record_by_default": {"type": "boolean"}, "created_at": int, "updated_at": int}},
        "DisputeEnvelope": {"type": "object", "properties": {"dispute": r("Dispute")}},
        "DisputeList": {"type": "object", "properties": {"disputes": {"type": "array", "items": r("Dispute")}}},
        "DisputeDetail": {"type": "object", "properties": {"dispute": r("Dispute"), "sessions": {"type": "array", "items": r("Session")}}},
        "NewDispute": {"type": "object", "required": ["case_number", "title", "category"], "properties": {
            "case_number": string, "title": string, "category": string, "level": level,
            "description": string, "parties": {"type": "array", "items": r("Party"), "maxItems": 20}}},
        "DisputeChanges": {"type": "object", "properties": {
            "title": string, "category": string, "level": level, "status": status, "description": string, "outcome": string,
            "record_by_default": {"type": "boolean"}}},
        "Session": {"type": "object", "properties": {
            "id": string, "dispute_id": string, "status": {"type": "string", "enum": ["scheduled", "live", "ended"]},
            "lobby_enabled": {"type": "boolean"}, "scheduled_at": opt_int, "started_at": opt_int,
            "ended_at": opt_int, "created_at": int}},
        "SessionEnvelope": {"type": "object", "properties": {"session": r("Session")}},
        "NewSession": {"type": "object", "properties": {"scheduled_at": opt_int, "lobby_enabled": {"type": "boolean", "default": true}}},
        "SessionEvent": {"type": "object", "properties": {"at": int, "kind": string, "actor": string, "detail": string}},
        "SessionDetail": {"type": "object", "properties": {
            "session": r("Session"), "dispute": r("Dispute"),
            "invitations": {"type": "array", "items": r("Invitation")},
            "events": {"type": "array", "items": r("SessionEvent")},
            "record_draft": r("RecordDraft"),
            "documents": {"type": "array", "items": r("SharedDocument")}}},
        "Invitation": {"type": "object", "properties": {
            "id": string, "session_id": string, "role": invitee, "name": string, "phone": string,
            "created_at": int, "expires_at": int, "revoked_at": opt_int, "last_used_at": opt_int}},
        "InvitationEnvelope": {"type": "object", "properties": {"invitation": r("Invitation")}},
        "NewInvitation": {"type": "object", "required": ["role", "name"], "properties": {
            "role": invitee, "name": string, "phone": string,
            "expires_in_minutes": {"type": "integer", "minimum": 1},
            "expires_in_seconds": {"type": "integer", "minimum": 1}}},
        "CreatedInvitation": {"type": "object", "properties": {"invitation": r("Invitation"), "token": string, "url": string}},
        "InspectedInvitation": {"type": "object", "properties": {
            "role": invitee, "name": string, "expires_at": int,
            "session": {"type": "object", "properties": {"id": string, "status": string, "lobby_enabled": {"type": "boolean"}}},
            "dispute": {"type": "object", "properties": {"case_number": string, "title": string}}}},
    });
    schemas["RecordDraft"] = json!({"type": ["object", "null"],
        "description": "The mediation record as last typed. Presenting it and each answer are session events (record_presented, record_confirmed, record_disputed) whose detail is JSON with the text presented and its sha256.",
        "properties": {"text": string, "version": int, "updated_by": string, "updated_at_ms": int}});
    schemas["DocumentEnvelope"] =
        json!({"type": "object", "properties": {"document": r("SharedDocument")}});
    schemas["SharedDocument"] = json!({"type": "object",
        "description": "A photo or document shared in the session's room, kept as evidence: its SHA-256 was taken as it arrived.",
        "properties": {"id": string, "session_id": string, "participant_id": string, "shared_by": string,
            "shared_by_role": string, "file_name": string, "content_type": string, "size_bytes": int,
            "sha256": string, "shared_at": int,
            "page_count": {"type": "integer", "description": "a PDF's pages drawn as pictures (GET /api/documents/{id}/pages/{n}); 0 for a photo"}}});
    schemas["Expert"] = json!({"type": "object", "properties": {
            "id": string, "name": string, "specialty": string, "center": string, "phone": string, "created_at": int}});
    schemas["ExpertList"] = json!({"type": "object", "properties": {"experts": {"type": "array", "items": r("Expert")}}});
    schemas["ExpertEnvelope"] = json!({"type": "object", "properties": {"expert": r("Expert")}});
    schemas["NewExpert"] = json!({"type": "object", "required": ["name", "specialty"], "properties": {
            "name": string, "specialty": {"type": "string", "description": "土地, 婚姻家庭, 劳动, 医疗, 物业 …"},
            "center": string, "phone": string}});
    let scope = json!({"type": "string", "enum": ["mediator", "room"],
        "description": "mediator: the expert advises the mediator only (the parties neither see nor hear them); room: the expert speaks with everyone"});
    schemas["NewExpertInvitation"] = json!({"type": "object", "required": ["expert_id", "scope"], "properties": {
            "expert_id": string, "scope": scope, "expires_in_minutes": {"type": "integer", "minimum": 1}}});
    schemas["CreatedExpertInvitation"] = json!({"type": "object", "properties": {
            "invitation": r("Invitation"), "token": string, "url": string,
            "expert_invitation": {"type": "object", "properties": {
                "invitation_id": string, "session_id": string, "expert": r("Expert"), "scope": scope,
                "invited_by": string, "created_at": int}}}});
    schemas["RecordingFile"] = json!({"type": "object", "properties": {
            "id": string, "kind": {"type": "string", "enum": ["participant", "composite", "manifest"]},
            "participant_name": string, "participant_role": string,
            "status": {"type": "string", "enum": ["writing", "complete", "interrupted", "failed"]},
            "sha256": {"type": ["string", "null"]}, "size_bytes": opt_int, "duration_ms": opt_int,
            "started_at": int, "ended_at": opt_int,
            "content_type": {"type": "string", "enum": ["video/webm", "video/x-matroska", "application/json", "application/octet-stream"]},
            "codecs": {"type": ["string", "null"], "description": "RFC 6381 codec names, e.g. `vp8, opus`"},
            "audit": {"type": "array", "items": {"type": "object", "properties": {
                "at": int, "user_id": string, "action": string, "ip": string}}}}});
    schemas["Recording"] = json!({"type": "object", "properties": {
            "id": string, "session_id": string, "dispute_id": string,
            "status": {"type": "string", "enum": ["recording", "finished", "interrupted", "failed"]},
            "started_by": string, "started_at": int, "ended_at": opt_int,
            "error": {"type": ["string", "null"]}, "manifest_sha256": {"type": ["string", "null"]},
            "composite_status": {"type": "string", "enum": ["none", "pending", "running", "done", "failed", "interrupted"]},
            "composite_progress": {"type": "integer", "description": "percent done while running"},
            "files": {"type": "array", "items": r("RecordingFile")}}});
    schemas["MediaStats"] = json!({"type": "object", "properties": {"rooms": {"type": "array", "items": {"type": "object", "properties": {
            "room": string, "peers": int, "packets_in": int, "packets_out": int, "datagrams_out": int,
            "hold_p50_us": opt_int, "hold_p99_us": opt_int, "hold_max_us": opt_int}}}}});
    schemas["RecordingList"] = json!({"type": "object", "properties": {"recordings": {"type": "array", "items": r("Recording")}}});
    schemas
}

fn build() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, who, request, response) in ROUTES {
        let mut operation = json!({
            "summary": summary,
            "description": format!("Who may call: {who}."),
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{response}")}}}},
                "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if let Some(request) = request {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {
                "schema": {"$ref": format!("#/components/schemas/{request}")}}}});
        }
        let mut parameters = Vec::new();
        if path.contains("{page}") {
            parameters.push(
                json!({"name": "page", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}),
            );
        }
        if path.contains("{id}") {
            parameters.push(
                json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}),
            );
        }
        if *path == "/api/experts" && *method == "get" {
            parameters.push(json!({"name": "specialty", "in": "query", "required": false, "schema": {"type": "string"}}));
        }
        if *path == "/api/invitations/inspect" {
            parameters.push(json!({"name": "token", "in": "query", "required": true, "schema": {"type": "string"}}));
        }
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        let entry = paths
            .entry(path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[*method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Concord", "version": env!("CARGO_PKG_VERSION"),
            "description": "Video mediation: disputes, sessions, invitations. Signaling is a WebSocket at /ws (docs/protocol.md)."},
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"cookie": {"type": "apiKey", "in": "cookie", "name": "concord_session"}},
        },
        "paths": paths,
    })
}

pub async fn document() -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(build).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referenced_schema_exists() {
        let document = build();
        let text = document.to_string();
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        for reference in text.split("#/components/schemas/").skip(1) {
            let name: String = reference
                .chars()
                .take_while(|c| c.is_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
        assert_eq!(document["paths"].as_object().expect("paths").len(), 25);
    }
}

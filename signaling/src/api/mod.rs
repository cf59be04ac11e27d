//! The HTTP surface: the JSON API, the signaling socket and the embedded web client.

pub mod auth;
pub mod disputes;
pub mod documents;
pub mod experts;
pub mod invitations;
pub mod media;
mod openapi;
pub mod recordings;
pub mod sessions;
pub mod users;
mod validate;
mod web;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{
    HeaderName, HeaderValue, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::TlsMode;
use crate::error::ApiError;
use crate::state::AppState;
use crate::ws;

/// Request bodies are small JSON documents.
const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn router(state: AppState) -> Router {
    // With a real certificate, browsers are told to come back only over HTTPS. Not with a
    // self-signed one: there HSTS would turn the warning a user can click through into a wall.
    let hsts = (state.config.tls.mode == TlsMode::Files).then(|| {
        SetResponseHeaderLayer::overriding(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        )
    });
    let api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::document))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/logout-everywhere", post(auth::logout_everywhere))
        .route("/auth/password", post(auth::change_password))
        .route("/auth/me", get(auth::me))
        .route("/setup", post(auth::setup))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", patch(users::update))
        .route("/media/stats", get(media::stats))
        .route("/disputes", get(disputes::list).post(disputes::create))
        .route(
            "/disputes/{id}",
            get(disputes::show).patch(disputes::update),
        )
        .route("/disputes/{id}/sessions", post(sessions::create))
        .route("/disputes/{id}/recordings", get(recordings::list))
        .route("/recordings/files/{id}", get(recordings::file))
        .route("/sessions/{id}", get(sessions::show))
        .route("/sessions/{id}/end", post(sessions::end))
        .route("/sessions/{id}/invitations", post(sessions::invite))
        .route("/sessions/{id}/expert-invitations", post(experts::invite))
        .route("/experts", get(experts::list).post(experts::create))
        .route(
            "/sessions/{id}/documents",
            post(documents::share).layer(DefaultBodyLimit::max(documents::MAX_DOCUMENT_BYTES)),
        )
        .route("/documents/{id}", get(documents::fetch))
        .route("/documents/{id}/pages/{page}", get(documents::page))
        .route("/invitations/inspect", get(invitations::inspect))
        .route("/invitations/{id}/revoke", post(invitations::revoke))
        .fallback(|| async { ApiError::NotFound("API route") })
        .layer(axum::middleware::from_fn(
            crate::origin::refuse_cross_origin,
        ));

    Router::new()
        .nest("/api", api)
        .route("/ws", get(ws::upgrade))
        .route("/login/{token}", get(auth::sign_in_link))
        .route("/", get(web::index))
        .route("/j/{token}", get(web::index))
        .route("/setup/{token}", get(web::index))
        .route("/assets/{*path}", get(web::asset))
        .fallback(|| async { ApiError::NotFound("page") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Invitation tokens travel in page URLs: never leak them in a Referer.
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        // The client is all our own files: no inline script, no other origin.
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; \
                 base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(self), microphone=(self), geolocation=()"),
        ))
        .layer(tower::util::option_layer(hsts))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

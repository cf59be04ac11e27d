//! One error type for every HTTP handler: a status, a stable code and a human message as JSON.
//! Internal failures are logged here and never shown to the client.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error_code::ErrorCode;
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Validation(String),
    Unauthenticated,
    Forbidden,
    /// Forbidden, with the reason the caller can act on.
    ForbiddenBecause(&'static str),
    /// The body is not of a type the endpoint takes (read from its bytes).
    UnsupportedMediaType,
    /// A state-changing request made by another site's page.
    CrossOrigin,
    /// The right password for an account an administrator disabled.
    AccountDisabled,
    /// The current password given to change it is not the account's.
    WrongPassword,
    NotFound(&'static str),
    Conflict(String),
    InvitationUnknown,
    InvitationExpired,
    InvitationRevoked,
    SessionEnded,
    PayloadTooLarge,
    RateLimited,
    /// Too many password hashes in flight: refused at once rather than queued.
    Busy,
    Internal(anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            ApiError::Validation(_) => (StatusCode::BAD_REQUEST, ErrorCode::ValidationFailed),
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated),
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => {
                (StatusCode::FORBIDDEN, ErrorCode::Forbidden)
            }
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
            ),
            ApiError::CrossOrigin => (StatusCode::FORBIDDEN, ErrorCode::CrossOrigin),
            ApiError::AccountDisabled => (StatusCode::FORBIDDEN, ErrorCode::AccountDisabled),
            ApiError::WrongPassword => (StatusCode::BAD_REQUEST, ErrorCode::WrongPassword),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::InvitationUnknown => (StatusCode::NOT_FOUND, ErrorCode::InvitationUnknown),
            ApiError::InvitationExpired => (StatusCode::GONE, ErrorCode::InvitationExpired),
            ApiError::InvitationRevoked => (StatusCode::GONE, ErrorCode::InvitationRevoked),
            ApiError::SessionEnded => (StatusCode::GONE, ErrorCode::SessionEnded),
            ApiError::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            }
            ApiError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            ApiError::Busy => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::Busy),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m) | ApiError::Validation(m) | ApiError::Conflict(m) => m.clone(),
            ApiError::Unauthenticated => "Sign in first.".into(),
            ApiError::Forbidden => "Your role does not allow this.".into(),
            ApiError::ForbiddenBecause(why) => (*why).into(),
            ApiError::UnsupportedMediaType => {
                "Only photos (JPEG, PNG, WebP) and PDF documents can be shared.".into()
            }
            ApiError::CrossOrigin => "Requests from other sites are not accepted.".into(),
            ApiError::AccountDisabled => {
                "This account has been disabled; ask the administrator.".into()
            }
            ApiError::WrongPassword => "The current password is not right.".into(),
            ApiError::NotFound(what) => format!("No such {what}."),
            ApiError::InvitationUnknown => "This invitation link is not valid.".into(),
            ApiError::InvitationExpired => "This invitation link has expired.".into(),
            ApiError::InvitationRevoked => "This invitation link was withdrawn.".into(),
            ApiError::SessionEnded => "This session has ended.".into(),
            ApiError::PayloadTooLarge => "The request is too large.".into(),
            ApiError::RateLimited => "Too many attempts; try again in a minute.".into(),
            ApiError::Busy => "The server is busy; try again in a moment.".into(),
            ApiError::Internal(_) => "Something went wrong on the server.".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(error) = &self {
            tracing::error!(error = format!("{error:#}"), "request failed");
        }
        let (status, code) = self.status_and_code();
        let body = json!({ "error": { "code": code, "message": self.message() } });
        (status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(field) => ApiError::Conflict(format!("That {field} is taken.")),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::Validation(e.body_text()),
            JsonRejection::BytesRejection(_) => ApiError::PayloadTooLarge,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// `Json<T>` whose rejections are our JSON errors.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

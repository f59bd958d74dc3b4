//! Typed rejections: every failure the API answers is a fixed status, a short machine code
//! and a message that says what was wrong — `{"error": {"code": .., "message": ..}}`.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::Error;

/// A failed request: its status, a code (`bad_json`, `unknown_task`, …) and a message.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request cannot be read.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: the request reads, but asks for something that cannot be done.
    pub(crate) fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 404: no such thing.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401: no token or a wrong one.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match &error {
            Error::Canvas(_)
            | Error::UnknownTask(_)
            | Error::Config(_)
            | Error::InvalidQueue(_) => Self::unprocessable("invalid_request", error.to_string()),
            Error::Schema(_) => Self::unprocessable("invalid_payload", error.to_string()),
            Error::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                error.to_string(),
            ),
            Error::Log(_)
            | Error::Storage { .. }
            | Error::Shutdown(_)
            | Error::ShutdownTimedOut { .. }
            | Error::Undecodable { .. }
            | Error::BadReply { .. }
            | Error::CoordinatorFailed(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the log or store is not available, try again: {error}"),
            ),
            Error::Timeout { .. } => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", error.to_string())
            }
            Error::TaskFailed { .. } | Error::Revoked(_) | Error::ResultType { .. } => {
                Self::new(StatusCode::CONFLICT, "task_failed", error.to_string())
            }
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "bad_body"
        };
        Self::new(status, code, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request("bad_path", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("bad_query", rejection.body_text())
    }
}

/// Parses a path segment as a hyphenated UUID (as `format: uuid` says), or says it is not one.
pub(crate) fn parse_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    let shown = || text.chars().take(64).collect::<String>();
    if text.len() != 36 {
        return Err(ApiError::bad_request(
            "bad_id",
            format!(
                "{:?} is not a UUID in its hyphenated form (36 characters)",
                shown()
            ),
        ));
    }
    uuid::Uuid::parse_str(text)
        .map_err(|e| ApiError::bad_request("bad_id", format!("{:?} is not a UUID: {e}", shown())))
}

/// Parses a JSON body, saying where it is malformed.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "bad_json",
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_request"
        } else {
            "bad_json"
        };
        let status = if e.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, code, format!("the body is not valid: {e}"))
    })
}

/// Rewrites every number with no fractional part (`2.0`, `-192035.0`, `1e3`) as an integer,
/// as JSON Schema counts it: a request whose integers are written as floats means the same.
pub(crate) fn integral_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            let Some(float) = number.as_f64().filter(|f| f.fract() == 0.0) else {
                return;
            };
            // Within these bounds the conversion is exact enough and never saturates.
            if (-9.2e18..=9.2e18).contains(&float) {
                *value = Value::from(float as i64);
            } else if (0.0..=1.8e19).contains(&float) {
                *value = Value::from(float as u64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

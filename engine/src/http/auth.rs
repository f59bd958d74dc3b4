//! Bearer-token authentication, compared in constant time.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::router::ApiState;

/// Lets the request through when no token is configured or it carries the right one.
pub(crate) async fn require_token(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    // A browser's EventSource cannot set headers: the event stream also takes the token as
    // `?access_token=`.
    let given = header.or_else(|| {
        (request.uri().path() == "/api/events")
            .then(|| query_token(request.uri()))
            .flatten()
    });
    match given.as_deref() {
        None => ApiError::unauthorized(
            "this API needs an `Authorization: Bearer <token>` header (celeriac serve --token)",
        )
        .into_response(),
        Some(given) if constant_time_eq(given.trim().as_bytes(), expected.as_bytes()) => {
            next.run(request).await
        }
        Some(_) => ApiError::unauthorized("the bearer token is not the right one").into_response(),
    }
}

/// The `access_token` parameter of a query string, percent-decoded.
fn query_token(uri: &axum::http::Uri) -> Option<String> {
    let Query(mut pairs) = Query::<HashMap<String, String>>::try_from_uri(uri).ok()?;
    pairs.remove("access_token")
}

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// first differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let longest = a.len().max(b.len());
    let mut difference = u8::from(a.len() != b.len());
    for i in 0..longest {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= x ^ y;
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_bytes_and_lengths_match() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret\0"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}

//! What a browser could do to a server without a token, refused before any handler runs:
//!
//! - **DNS rebinding**: a page on `evil.example` whose name now points at 127.0.0.1 sends
//!   `Host: evil.example`. Without a token, the host must be a loopback name or one the
//!   operator allowed (403 `host_not_allowed`).
//! - **Cross-site requests**: a page on another origin can POST (a form, or `fetch` in
//!   no-cors mode) but cannot read the answer. Without a token, a state-changing request
//!   whose `Origin` is another host is refused (403 `origin_not_allowed`).
//! - **Untyped bodies**: every request body must be `application/json` (415
//!   `unsupported_media_type`): the forms and no-cors requests of other pages can only send
//!   `text/plain`, form or multipart bodies. `POST /api/tasks` and `POST /api/workflows`
//!   always take one.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::router::ApiState;

/// Host names always allowed without a token.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Refuses requests a browser page on another site could make, then lets the rest through.
pub(crate) async fn guard(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Response {
    match check(
        &state,
        request.method(),
        request.uri().path(),
        request.headers(),
    ) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn check(
    state: &ApiState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if state.token.is_none() {
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !host_allowed(host_name(host), &state.allowed_hosts) {
            let shown: String = host.chars().take(100).collect();
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "host_not_allowed",
                format!("Host {shown:?} is not served without a token: use localhost or 127.0.0.1, or start the server with --allow-host or --token"),
            ));
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Some(origin) = headers.get(ORIGIN).filter(|_| changes_state) {
            let origin = origin.to_str().unwrap_or("null");
            if !origin_allowed(origin, &state.allowed_hosts) {
                let shown: String = origin.chars().take(100).collect();
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    format!("requests from the page at {shown:?} are refused without a token"),
                ));
            }
        }
    }
    let needs_body = *method == Method::POST && matches!(path, "/api/tasks" | "/api/workflows");
    if (needs_body || has_body(headers)) && !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ));
    }
    Ok(())
}

/// True when the request carries a body (a non-zero length, or a chunked one).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// True for `application/json`, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The host of a `Host` value or of an origin's authority, without its port or brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim_end_matches('.');
    LOOPBACK.iter().any(|h| h.eq_ignore_ascii_case(host))
        || allowed.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// True when `origin` (`scheme://host[:port]`) names an allowed host.
fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // "null": a sandboxed page, a file, a redirect across origins
    };
    matches!(scheme, "http" | "https") && host_allowed(host_name(authority), allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins_are_loopback_or_allowed() {
        let allowed = vec!["celeriac.internal".to_owned()];
        for host in [
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "LOCALHOST",
            "celeriac.internal:80",
        ] {
            assert!(host_allowed(host_name(host), &allowed), "{host}");
        }
        for host in ["evil.example:8080", "127.0.0.1.evil.example", "", "[::2]:1"] {
            assert!(!host_allowed(host_name(host), &allowed), "{host}");
        }
        assert!(origin_allowed("http://localhost:8080", &allowed));
        assert!(!origin_allowed("null", &allowed));
        assert!(!origin_allowed("https://evil.example", &allowed));
        assert!(!origin_allowed("file://localhost", &allowed));
    }
}

//! What a web page could do to a server on loopback without a token, refused: typed bodies
//! only (a form or a no-cors fetch cannot send `application/json`), no foreign `Host` (DNS
//! rebinding), no state change from a foreign `Origin`; and the caps on connections and
//! event streams.

use crate::client::{accepted_id, messages_on_queue, parse, raw, request, serve, EventStream};
use crate::support::Backend;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_json_are_415_and_send_nothing() {
    let served = serve(Backend::Embedded, None).await;
    let task = json!({"task": "add", "args": [1, 2]}).to_string();
    let id = uuid::Uuid::now_v7();
    for (path, content_type) in [
        ("/api/tasks", Some("text/plain")),
        ("/api/tasks", Some("application/x-www-form-urlencoded")),
        ("/api/tasks", Some("multipart/form-data; boundary=x")),
        ("/api/tasks", None),
        ("/api/workflows", Some("text/plain;charset=UTF-8")),
        (&format!("/api/tasks/{id}/revoke"), Some("text/plain")),
    ] {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            served.addr,
            task.len()
        );
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        let bytes = format!("{head}\r\n{task}");
        let answer = parse(&raw(served.addr, bytes.as_bytes()).await).expect("an answer");
        assert_eq!(
            answer.status,
            415,
            "{path} {content_type:?}: {}",
            answer.text()
        );
        assert_eq!(answer.json()["error"]["code"], "unsupported_media_type");
    }
    assert_eq!(messages_on_queue(&served.test.app, "default").await, 0);
    // JSON with a charset is JSON; a revoke without a body needs no type.
    let typed = request(
        served.addr,
        "POST",
        "/api/tasks",
        &[("Content-Type", "application/json; charset=utf-8")],
        Some(task.as_bytes()),
    )
    .await;
    accepted_id(&typed);
    let bare = request(
        served.addr,
        "POST",
        &format!("/api/tasks/{id}/revoke"),
        &[],
        None,
    )
    .await;
    assert_eq!(bare.status, 202, "{}", bare.text());
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_hosts_and_origins_are_refused_without_a_token() {
    let served = serve(Backend::Embedded, None).await;
    let addr = served.addr;
    let get_as = |host: &'static str| async move {
        let head =
            format!("GET /api/workers HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        parse(&raw(addr, head.as_bytes()).await).expect("an answer")
    };
    for host in [
        "evil.example",
        "evil.example:8080",
        "127.0.0.1.evil.example",
    ] {
        let answer = get_as(host).await;
        assert_eq!(answer.status, 403, "Host {host}: {}", answer.text());
        assert_eq!(answer.json()["error"]["code"], "host_not_allowed");
    }
    for host in ["localhost", "localhost:1234", "127.0.0.1", "[::1]:9"] {
        assert_eq!(get_as(host).await.status, 200, "Host {host}");
    }
    let body = json!({"task": "add", "args": [1, 2]}).to_string();
    let from = |origin: &'static str| {
        let body = body.clone();
        async move {
            request(
                addr,
                "POST",
                "/api/tasks",
                &[("Origin", origin)],
                Some(body.as_bytes()),
            )
            .await
        }
    };
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost.evil.example:80",
    ] {
        let answer = from(origin).await;
        assert_eq!(answer.status, 403, "Origin {origin}: {}", answer.text());
        assert_eq!(answer.json()["error"]["code"], "origin_not_allowed");
    }
    assert_eq!(messages_on_queue(&served.test.app, "default").await, 0);
    let own = format!("http://{addr}");
    let own = request(
        addr,
        "POST",
        "/api/tasks",
        &[("Origin", own.as_str())],
        Some(body.as_bytes()),
    )
    .await;
    accepted_id(&own);
    served.stop().await;

    // An allowed name is served; with a token the token is what protects.
    let test = crate::support::app(Backend::Embedded).await;
    let mut options = crate::client::options(None);
    options.allowed_hosts = vec!["celeriac.internal".into()];
    let server = test.app.serve(options).await.expect("serves");
    let head =
        "GET /api/workers HTTP/1.1\r\nHost: celeriac.internal:8080\r\nConnection: close\r\n\r\n";
    let answer = parse(&raw(server.local_addr(), head.as_bytes()).await).expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
    server.shutdown().await;
    let tokened = serve(Backend::Embedded, Some("t0ken")).await;
    let head = "GET /api/workers HTTP/1.1\r\nHost: anything.example\r\nAuthorization: Bearer t0ken\r\nConnection: close\r\n\r\n";
    let answer = parse(&raw(tokened.addr, head.as_bytes()).await).expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
    tokened.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_event_streams_are_capped() {
    let test = crate::support::app(Backend::Embedded).await;
    // Event streams: two at once.
    let mut options = crate::client::options(None);
    options.max_event_streams = 2;
    let server = test.app.serve(options).await.expect("serves");
    let addr = server.local_addr();
    let first = EventStream::open(addr, "/api/events", None).await;
    let second = EventStream::open(addr, "/api/events", None).await;
    let third = crate::client::get(addr, "/api/events", None).await;
    assert_eq!(third.status, 503, "{}", third.text());
    assert_eq!(third.json()["error"]["code"], "too_many_streams");
    assert_eq!(
        crate::client::get(addr, "/api/workers", None).await.status,
        200,
        "other requests are served"
    );
    drop((first, second));
    server.shutdown().await;

    // Connections: two at once, both held by streams; the next is answered 503 and closed.
    let mut options = crate::client::options(None);
    options.max_connections = 2;
    let server = test.app.serve(options).await.expect("serves");
    let addr = server.local_addr();
    let _first = EventStream::open(addr, "/api/events", None).await;
    let _second = EventStream::open(addr, "/api/events", None).await;
    let over = parse(
        &raw(
            addr,
            b"GET /api/workers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        )
        .await,
    )
    .expect("an answer");
    assert_eq!(over.status, 503, "{}", over.text());
    assert_eq!(over.json()["error"]["code"], "too_many_connections");
    server.shutdown().await;
}

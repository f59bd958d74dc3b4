//! A small HTTP/1.1 client over a raw TCP stream for the `celeriac serve` tests: plain
//! requests, hostile bytes, and a server-sent-event reader. Raw on purpose: the tests send
//! what no well-behaved client library would.

#![allow(unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every request and read here is bounded by this.
pub const IO_BOUND: Duration = Duration::from_secs(30);

/// A response: status, headers (lower-cased names) and the decoded body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            head.push_str("Content-Type: application/json\r\n");
        }
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    let raw = exchange(addr, &bytes).await;
    parse(&raw).unwrap_or_else(|| {
        panic!(
            "{method} {path}: not an HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// `GET` with an optional bearer token.
pub async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    request(addr, "GET", path, &headers, None).await
}

/// `POST` of a JSON value with an optional bearer token.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let body = body.to_string();
    request(addr, "POST", path, &headers, Some(body.as_bytes())).await
}

/// Writes `bytes` and reads until the server closes the connection.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    tokio::time::timeout(IO_BOUND, async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // The server may answer (413, 400) and close before reading everything.
        let _ = stream.write_all(bytes).await;
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        out
    })
    .await
    .expect("the server answered within the bound")
}

/// Writes a request and reads one response: to its Content-Length, to the last chunk, or
/// until the server closes (servers may keep the connection open despite `close`).
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    tokio::time::timeout(IO_BOUND, async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let _ = stream.write_all(bytes).await;
        let mut out = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buffer[..n]);
            if complete(&out) {
                return out;
            }
        }
    })
    .await
    .expect("the server answered within the bound")
}

/// True once `raw` holds a whole response.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
    let body = &raw[end + 4..];
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|length| body.len() >= length)
}

/// Parses a response; decodes a chunked body.
pub fn parse(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest).0
    } else {
        rest.to_vec()
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

/// Decodes complete chunks; returns the data and how many input bytes were consumed.
fn dechunk(mut input: &[u8]) -> (Vec<u8>, usize) {
    let total = input.len();
    let mut out = Vec::new();
    while let Some(line_end) = input.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&input[..line_end]);
        let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
            break;
        };
        if size == 0 || input.len() < line_end + 2 + size + 2 {
            break;
        }
        out.extend_from_slice(&input[line_end + 2..line_end + 2 + size]);
        input = &input[line_end + 2 + size + 2..];
    }
    (out, total - input.len())
}

/// A live server-sent-event stream.
pub struct EventStream {
    stream: TcpStream,
    raw: Vec<u8>,
    text: String,
    head_done: bool,
}

impl EventStream {
    /// Opens `path` (an SSE route) and waits for the `ready` event.
    pub async fn open(addr: SocketAddr, path: &str, token: Option<&str>) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{auth}\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut events = Self {
            stream,
            raw: Vec::new(),
            text: String::new(),
            head_done: false,
        };
        let (kind, _) = events.next().await;
        assert_eq!(kind, "ready", "the first event says the stream is live");
        events
    }

    /// The next event's name and JSON data.
    pub async fn next(&mut self) -> (String, serde_json::Value) {
        tokio::time::timeout(IO_BOUND, self.next_unbounded())
            .await
            .expect("an event within the bound")
    }

    /// Reads events until `matches` accepts one; panics after the bound.
    pub async fn until(
        &mut self,
        mut matches: impl FnMut(&str, &serde_json::Value) -> bool,
    ) -> serde_json::Value {
        tokio::time::timeout(IO_BOUND, async {
            loop {
                let (kind, data) = self.next_unbounded().await;
                if matches(&kind, &data) {
                    return data;
                }
            }
        })
        .await
        .expect("the awaited event arrived within the bound")
    }

    async fn next_unbounded(&mut self) -> (String, serde_json::Value) {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut kind = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        kind = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let value = serde_json::from_str(&data).expect("event data is JSON");
                return (kind, value);
            }
            let mut buffer = [0u8; 8192];
            let n = self.stream.read(&mut buffer).await.expect("read");
            assert!(n > 0, "the event stream closed");
            self.raw.extend_from_slice(&buffer[..n]);
            if !self.head_done {
                let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&self.raw[..end]).into_owned();
                assert!(head.starts_with("HTTP/1.1 200"), "event stream: {head}");
                self.raw.drain(..end + 4);
                self.head_done = true;
            }
            let (data, used) = dechunk(&self.raw);
            self.raw.drain(..used);
            self.text.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

/// An app on one backend with an in-process worker and `celeriac serve` on 127.0.0.1:0.
pub struct Served {
    pub test: crate::support::TestApp,
    pub worker: Option<celeriac::engine::WorkerHandle>,
    pub server: Option<celeriac::engine::http::Server>,
    pub addr: SocketAddr,
    pub token: Option<String>,
}

/// Registers `add(x, y)`, `mul(x, y)`, `tsum(xs)` and `nap(ms)` on the app.
pub fn register(app: &celeriac::App) {
    app.task("add", |(x, y): (i64, i64)| async move { Ok(x + y) })
        .expect("add");
    app.task("mul", |(x, y): (i64, i64)| async move { Ok(x * y) })
        .expect("mul");
    app.task("tsum", |xs: Vec<i64>| async move {
        Ok(xs.into_iter().sum::<i64>())
    })
    .expect("tsum");
    app.task("nap", |ms: u64| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    })
    .expect("nap");
}

/// The options the tests serve with: loopback, port 0, small bounds.
pub fn options(token: Option<&str>) -> celeriac::engine::http::ServeOptions {
    celeriac::engine::http::ServeOptions {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        token: token.map(str::to_owned),
        body_limit: 64 * 1024,
        header_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(20),
        ..Default::default()
    }
}

/// Serves a fresh app on `backend` with the test tasks and a worker sending heartbeats.
pub async fn serve(backend: crate::support::Backend, token: Option<&str>) -> Served {
    let test = crate::support::app(backend).await;
    register(&test.app);
    let worker = test.app.worker().send_events(true).spawn();
    let server = test
        .app
        .serve(options(token))
        .await
        .expect("the server starts");
    let addr = server.local_addr();
    Served {
        test,
        worker: Some(worker),
        server: Some(server),
        addr,
        token: token.map(str::to_owned),
    }
}

impl Served {
    /// `GET` with this server's token.
    pub async fn get(&self, path: &str) -> Response {
        get(self.addr, path, self.token.as_deref()).await
    }

    /// `POST` JSON with this server's token.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> Response {
        post(self.addr, path, &body, self.token.as_deref()).await
    }

    /// Stops the server and the worker.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        if let Some(worker) = self.worker.take() {
            worker.shutdown().await.expect("the worker stops cleanly");
        }
    }
}

/// The task id in a 202 answer.
pub fn accepted_id(response: &Response) -> uuid::Uuid {
    assert!(
        response.status == 202 || response.status == 200,
        "expected 202, got {}: {}",
        response.status,
        response.text()
    );
    response.json()["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {}", response.text()))
}

/// Messages ever written to `queue`'s topic (all partitions).
pub async fn messages_on_queue(app: &celeriac::App, queue: &str) -> i64 {
    let topic = app.names().tasks(queue);
    let description = app.log().describe_topic(&topic).await.expect("describe");
    let mut total = 0;
    for p in 0..description.partitions {
        let tp = celeriac::topics::TopicPartition::new(topic.clone(), p);
        let (low, high) = app.log().watermarks(&tp).await.expect("watermarks");
        total += high - low;
    }
    total
}

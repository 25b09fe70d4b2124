//! Tests over a real socket: `serve` on 127.0.0.1:0 answers HTTP/1.1, a
//! shutdown signal ends it cleanly (the future returns `Ok`), and the peer
//! address reaches the public doors' rate limit.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

#[tokio::test]
async fn serves_over_tcp_and_shuts_down_gracefully() {
    let h = common::harness();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = segscope_server::AppState::new(h.backend.clone(), common::config());
    let server = tokio::spawn(segscope_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let request = format!(
        "GET /api/v1/workspaces/acme/segments/{}/summary?view=known HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        h.pricing.0, h.secret
    );
    // A plain blocking client on the blocking pool: nothing of axum or
    // hyper on the client side, so this checks the bytes on the wire.
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("\"segment\":{\"id\":1,\"name\":\"Pricing visitors\"}"), "{response}");

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), server).await.expect("server stopped in time");
    result.unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "the listener is closed");
}

/// Over a real socket the peer address reaches the collect door: the rate
/// limit counts per client address (127.0.0.1 and 127.0.0.2 are two
/// peers on Linux loopback), and `X-Forwarded-For` from an untrusted peer
/// does not open a fresh bucket.
#[tokio::test]
async fn collect_rate_limit_is_per_peer_address_over_tcp() {
    let h = common::harness();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = segscope_server::ServerConfig {
        collect_rate: segscope_server::ratelimit::RateLimit { per_second: 0.01, burst: 1, max_tracked: 10 },
        ..common::config()
    };
    let state = segscope_server::AppState::new(h.backend.clone(), config);
    let server = tokio::spawn(segscope_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let post = |forwarded: &str| {
        let body = format!(
            r#"{{"key":"{}","visitor_id":"v-socket","events":[{{"type":"page_view","url":"https://shop.example/"}}]}}"#,
            h.write
        );
        format!(
            "POST /collect/acme HTTP/1.1\r\nHost: {address}\r\nContent-Type: text/plain\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36\r\nX-Forwarded-For: {forwarded}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // (client source address, X-Forwarded-For) → status line.
    let mut statuses = Vec::new();
    for (source, forwarded) in [("127.0.0.1", "203.0.113.1"), ("127.0.0.1", "203.0.113.2"), ("127.0.0.2", "203.0.113.1")] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let mut stream = socket.connect(address).await.unwrap();
        stream.write_all(post(forwarded).as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response)).await.unwrap().unwrap();
        if statuses.len() == 1 {
            assert!(response.to_ascii_lowercase().contains("retry-after: 100"), "{response}");
        }
        statuses.push(response.lines().next().unwrap_or("").to_owned());
    }
    // The second request shares the first one's bucket (same peer; its
    // header is not believed); another peer has its own.
    assert_eq!(statuses, ["HTTP/1.1 200 OK", "HTTP/1.1 429 Too Many Requests", "HTTP/1.1 200 OK"]);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server).await.expect("server stopped in time").unwrap().unwrap();
}

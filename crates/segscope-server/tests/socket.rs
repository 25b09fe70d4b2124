//! The one test over a real socket: `serve` on 127.0.0.1:0 answers HTTP/1.1,
//! and a shutdown signal ends it cleanly (the future returns `Ok`).

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

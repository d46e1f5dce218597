//! A server address that does not answer (a listener whose accept queue is full, so the
//! kernel drops new handshakes: the local stand-in for a blackholed host) fails within
//! about one connect timeout, with a TIMEOUT error that says so — not after the retry
//! policy repeated the wait (10 s × 6 attempts before).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use durable_streams_sdk::{Client, Offset, RetryPolicy};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A listening socket that never accepts, with its (one-entry) accept queue filled.
/// Returns what must stay alive for the address to keep not answering.
async fn unanswering() -> (SocketAddr, TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(0).unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => held.push(s),
            Ok(Err(e)) => panic!("filling the accept queue: {e}"),
            Err(_) => return (addr, listener, held), // the handshake is dropped: queue full
        }
    }
    panic!("the accept queue of a backlog-0 listener never filled");
}

fn client(addr: SocketAddr, connect_timeout: Option<Duration>) -> Client {
    let mut b = Client::builder(format!("http://{addr}/v1/stream")).retry_policy(RetryPolicy::default());
    if let Some(t) = connect_timeout {
        b = b.connect_timeout(t);
    }
    b.build().unwrap()
}

fn assert_connect_timeout(e: &durable_streams_sdk::Error, addr: SocketAddr, waited: &str) {
    assert_eq!(e.code(), "TIMEOUT", "{e}");
    assert_eq!(e.cause(), Some("connect_timeout"), "{e}");
    let m = e.message();
    assert!(m.contains(&format!("cannot connect to http://{addr}/")), "{m}");
    assert!(m.contains(&format!("no answer within {waited} (connect timeout")), "{m}");
}

#[tokio::test]
async fn head_and_read_fail_after_one_connect_timeout_not_after_retries() {
    let (addr, _keep, _held) = unanswering().await;
    let c = client(addr, Some(Duration::from_millis(300)));
    let s = c.stream("/blackholed").unwrap();

    let t = Instant::now();
    let e = s.head().await.unwrap_err();
    let took = t.elapsed();
    assert_connect_timeout(&e, addr, "300 ms");
    // Retried with the default policy (5 retries, 0.1 s doubling) this took >= 4.9 s.
    assert!(took >= Duration::from_millis(290) && took < Duration::from_millis(1500), "head took {took:?}");

    let t = Instant::now();
    let e = s.read_all(Offset::beginning()).await.unwrap_err();
    let took = t.elapsed();
    assert_connect_timeout(&e, addr, "300 ms");
    assert!(took < Duration::from_millis(1500), "read took {took:?}");
}

#[tokio::test]
async fn the_default_connect_timeout_is_a_few_seconds() {
    let (addr, _keep, _held) = unanswering().await;
    let s = client(addr, None).stream("/blackholed").unwrap();
    let t = Instant::now();
    let e = s.head().await.unwrap_err();
    let took = t.elapsed();
    assert_connect_timeout(&e, addr, "5 s");
    assert!(took >= Duration::from_millis(4900) && took < Duration::from_secs(7), "head took {took:?}");
}

#[tokio::test]
async fn a_refused_connection_is_still_retried_and_says_refused() {
    // Nothing listens (a port just released): refused at once, which is worth retrying
    // (a server restarting), and the message names the cause.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let c = Client::builder(format!("http://{addr}"))
        .retry_policy(RetryPolicy { max_retries: 2, initial_delay: Duration::from_millis(50), ..Default::default() })
        .build()
        .unwrap();
    let t = Instant::now();
    let e = c.stream("/x").unwrap().head().await.unwrap_err();
    assert_eq!(e.code(), "NETWORK_ERROR", "{e}");
    assert!(e.message().contains("connection refused"), "{e}");
    // Two retries after jittered backoffs of at least 25 and 50 ms; unretried it takes ~1 ms.
    assert!(t.elapsed() >= Duration::from_millis(75), "two retries expected, took {:?}", t.elapsed());
}

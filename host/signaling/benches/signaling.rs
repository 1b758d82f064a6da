//! Benchmarks of the signaling server on loopback: token issue, join, and signal relay.
//!
//! Each iteration is one real HTTP request or WebSocket exchange against an in-process
//! server on 127.0.0.1, with client and server on the same tokio runtime.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use switchboard_signaling::{Secret, ServerConfig, ServerMessage, SignalingClient, start};

const API_KEY: &str = "bench-key";

fn signaling(c: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (server, client, auth_a, auth_b) = rt.block_on(async {
        let config = ServerConfig::new(API_KEY, Secret::generate().expect("random"));
        let server = start("127.0.0.1:0".parse().expect("addr"), config).await.expect("starts");
        let client = SignalingClient::new(&server.ws_url()).expect("client");
        let a = client.create_user(API_KEY, "a", "A", "").await.expect("user a").auth_token;
        let b = client.create_user(API_KEY, "b", "B", "").await.expect("user b").auth_token;
        (server, client, a, b)
    });

    let mut group = c.benchmark_group("signaling");
    group.measurement_time(Duration::from_secs(5));

    group.bench_function("generate_token_http", |bench| {
        bench.iter(|| rt.block_on(client.generate_token("bench", &auth_a)).expect("token"));
    });

    // A second member joining a room that holds one: connect, join, `joined` back, then a
    // clean close (the close is part of each iteration, so it is included in the figure).
    let (_first, _first_sender, mut first_events) = rt.block_on(async {
        let token = client.generate_token("join", &auth_a).await.expect("token").token;
        client.join(&token, Some("join")).await.expect("joins")
    });
    let token_b = rt.block_on(client.generate_token("join", &auth_b)).expect("token").token;
    group.bench_function("join_and_close", |bench| {
        bench.iter(|| {
            rt.block_on(async {
                let (_joined, sender, _events) = client.join(&token_b, Some("join")).await.expect("joins");
                sender.close().await;
                // Drain a's user_joined / user_left so its queue stays small.
                while let Ok(Some(msg)) =
                    tokio::time::timeout(Duration::from_millis(0), first_events.recv()).await
                {
                    drop(msg);
                }
            })
        });
    });

    // One signal a -> b and b's echo b -> a: two relays through the server.
    let (a_sender, mut a_events, b_sender, mut b_events, b_resource, a_resource) = rt.block_on(async {
        let ta = client.generate_token("relay", &auth_a).await.expect("token").token;
        let tb = client.generate_token("relay", &auth_b).await.expect("token").token;
        let (ja, sa, mut ea) = client.join(&ta, Some("relay")).await.expect("a joins");
        let (jb, sb, eb) = client.join(&tb, Some("relay")).await.expect("b joins");
        assert!(matches!(ea.recv().await, Some(ServerMessage::UserJoined { .. })));
        (sa, ea, sb, eb, jb.you.resource, ja.you.resource)
    });
    let payload =
        json!({"ice": {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0"}});
    group.bench_function("signal_round_trip", |bench| {
        bench.iter(|| {
            rt.block_on(async {
                a_sender.signal(&b_resource, payload.clone()).expect("sends");
                let Some(ServerMessage::Signal { payload, .. }) = b_events.recv().await else {
                    panic!("b got no signal")
                };
                b_sender.signal(&a_resource, payload).expect("sends");
                let Some(ServerMessage::Signal { .. }) = a_events.recv().await else {
                    panic!("a got no signal")
                };
            })
        });
    });
    group.finish();
    rt.block_on(server.shutdown()).expect("stops");
}

criterion_group!(benches, signaling);
criterion_main!(benches);

//! The signaling server against real clients: token flow, rooms, relay, leave, refusals.
//!
//! Every test starts its own server in-process on 127.0.0.1:0 and talks to it over real
//! HTTP and WebSocket connections. Timeouts here only stop a hung test; nothing asserts on
//! timing. Absence ("c got nothing") is shown by ordering: a later message that must come
//! first in the member's queue if the earlier one had been delivered.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use switchboard_core::model::{ErrorCode, RtcUser};
use switchboard_signaling::{
    CallClaims, ClientError, JoinedRoom, RoomEvents, RoomSender, Secret, ServerConfig, ServerHandle,
    ServerMessage, SignalingClient, StateChange, start,
};
use tokio_tungstenite::tungstenite::Message;

const API_KEY: &str = "test-admin-key";
/// Long enough to never fire in a passing test; short enough to fail a hung one.
const HANG_GUARD: Duration = Duration::from_secs(10);

struct Harness {
    server: ServerHandle,
    client: SignalingClient,
    secret: Secret,
}

impl Harness {
    async fn start() -> Self {
        let secret =
            Secret::from_bytes(b"0123456789abcdef0123456789abcdef".to_vec(), "test").expect("secret");
        let server = start("127.0.0.1:0".parse().expect("addr"), ServerConfig::new(API_KEY, secret.clone()))
            .await
            .expect("server starts");
        let client = SignalingClient::new(&server.ws_url()).expect("client");
        Self { server, client, secret }
    }

    async fn token(&self, uid: &str, session: &str) -> String {
        let user =
            self.client.create_user(API_KEY, uid, &uid.to_uppercase(), "").await.expect("user created");
        let call = self.client.generate_token(session, &user.auth_token).await.expect("token");
        assert_eq!(call.session_id, session);
        call.token
    }

    async fn join(&self, uid: &str, session: &str) -> Member {
        let token = self.token(uid, session).await;
        let (joined, sender, events) = self.client.join(&token, Some(session)).await.expect("joins");
        Member { joined, sender, events }
    }

    /// Joins with a first offer in the join message.
    async fn join_offering(&self, uid: &str, session: &str, offer: serde_json::Value) -> Member {
        let token = self.token(uid, session).await;
        let connection = self.client.connect().await.expect("connects");
        let (joined, sender, events) =
            connection.join(&token, Some(session), Some(offer)).await.expect("joins");
        Member { joined, sender, events }
    }

    /// The uids in `session` now, as the admin endpoint reports them.
    async fn uids_in(&self, session: &str) -> Vec<String> {
        match self.client.session_info(API_KEY, session).await {
            Ok(info) => uids(&info.users),
            Err(err) => {
                assert_eq!(err.code(), Some(ErrorCode::CallSessionNotFound), "{err}");
                Vec::new()
            }
        }
    }

    /// A call token signed with `key`, for crafted-token tests.
    fn craft(&self, key: &[u8], uid: &str, session: &str, iat: u64, exp: u64) -> String {
        let claims = CallClaims {
            sub: uid.into(),
            sid: session.into(),
            name: uid.into(),
            avatar: String::new(),
            iat,
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key))
            .expect("signs")
    }

    /// Asserts that joining with `token` (and `session`) is refused with `code`.
    async fn assert_refused(&self, token: &str, session: Option<&str>, code: ErrorCode) {
        match self.client.join(token, session).await {
            Err(err) => assert_eq!(err.code(), Some(code), "{err}"),
            Ok((joined, ..)) => panic!("expected {code}, but joined as {:?}", joined.you),
        }
    }
}

struct Member {
    joined: JoinedRoom,
    sender: RoomSender,
    events: RoomEvents,
}

impl Member {
    async fn next(&mut self) -> ServerMessage {
        tokio::time::timeout(HANG_GUARD, self.events.recv())
            .await
            .expect("a message arrives")
            .expect("the connection is open")
    }

    fn resource(&self) -> &str {
        &self.joined.you.resource
    }
}

fn uids(users: &[RtcUser]) -> Vec<String> {
    users.iter().map(|u| u.uid.clone()).collect()
}

fn now_s() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

#[track_caller]
fn expect_user_joined(msg: ServerMessage, who: &str, everyone: &[&str]) {
    match msg {
        ServerMessage::UserJoined { user, users } => {
            assert_eq!(user.uid, who);
            assert_eq!(uids(&users), everyone);
        }
        other => panic!("expected user_joined {who}, got {other:?}"),
    }
}

#[track_caller]
fn expect_user_left(msg: ServerMessage, who: &str, everyone: &[&str]) {
    match msg {
        ServerMessage::UserLeft { user, users } => {
            assert_eq!(user.uid, who);
            assert_eq!(uids(&users), everyone);
        }
        other => panic!("expected user_left {who}, got {other:?}"),
    }
}

#[tokio::test]
async fn two_members_get_the_user_list_and_the_first_sees_the_second_join() {
    let h = Harness::start().await;
    let mut alice = h.join("alice", "s1").await;
    assert_eq!(uids(&alice.joined.users), ["alice"]);
    assert_eq!(alice.joined.you.name, "ALICE");
    assert_eq!(alice.joined.session_id, "s1");

    let bob = h.join("bob", "s1").await;
    assert_eq!(uids(&bob.joined.users), ["alice", "bob"]);
    assert_eq!(bob.joined.you.uid, "bob");
    assert_ne!(bob.resource(), alice.resource(), "each connection has its own resource");
    assert!(bob.joined.you.joined_at >= alice.joined.you.joined_at && alice.joined.you.joined_at > 0);
    assert_eq!(bob.joined.others().map(|u| u.uid.as_str()).collect::<Vec<_>>(), ["alice"]);

    expect_user_joined(alice.next().await, "bob", &["alice", "bob"]);
    assert_eq!(h.uids_in("s1").await, ["alice", "bob"]);
    assert_eq!(h.uids_in("other").await, Vec::<String>::new(), "sessions are separate rooms");
}

#[tokio::test]
async fn the_token_in_the_url_joins_too() {
    let h = Harness::start().await;
    let token = h.token("alice", "s1").await;
    let url = format!("{}?token={token}", h.server.ws_url());
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("connects");
    let first = socket.next().await.expect("a message").expect("readable");
    let msg: ServerMessage = serde_json::from_str(first.to_text().expect("text")).expect("decodes");
    assert!(matches!(msg, ServerMessage::Joined { ref users, .. } if uids(users) == ["alice"]), "{msg:?}");
}

#[tokio::test]
async fn signals_reach_only_their_addressee() {
    let h = Harness::start().await;
    let mut a = h.join("a", "s").await;
    let mut b = h.join("b", "s").await;
    let mut c = h.join("c", "s").await;
    expect_user_joined(a.next().await, "b", &["a", "b"]);
    expect_user_joined(a.next().await, "c", &["a", "b", "c"]);
    expect_user_joined(b.next().await, "c", &["a", "b", "c"]);

    // The newcomer c offers to both; b answers c and sends an ICE candidate to a.
    c.sender.signal(a.resource(), json!({"sdp": {"type": "offer", "sdp": "v=0 c->a"}})).expect("sends");
    c.sender.signal(b.resource(), json!({"sdp": {"type": "offer", "sdp": "v=0 c->b"}})).expect("sends");
    b.sender.signal(c.resource(), json!({"sdp": {"type": "answer", "sdp": "v=0 b->c"}})).expect("sends");
    b.sender.signal(a.resource(), json!({"ice": "candidate b->a"})).expect("sends");

    let got = |msg: ServerMessage| match msg {
        ServerMessage::Signal { from, payload } => (from.uid, payload),
        other => panic!("expected a signal, got {other:?}"),
    };
    assert_eq!(got(a.next().await), ("c".into(), json!({"sdp": {"type": "offer", "sdp": "v=0 c->a"}})));
    assert_eq!(got(b.next().await), ("c".into(), json!({"sdp": {"type": "offer", "sdp": "v=0 c->b"}})));
    assert_eq!(got(c.next().await), ("b".into(), json!({"sdp": {"type": "answer", "sdp": "v=0 b->c"}})));
    assert_eq!(got(a.next().await), ("b".into(), json!({"ice": "candidate b->a"})));

    // Had c received b's candidate for a, it would be queued before this one.
    b.sender.signal(c.resource(), json!({"ice": "candidate b->c"})).expect("sends");
    assert_eq!(got(c.next().await), ("b".into(), json!({"ice": "candidate b->c"})));

    // A signal to nobody is refused, and the sender stays in the room.
    b.sender.signal("no-such-resource", json!({})).expect("sends");
    assert!(matches!(b.next().await, ServerMessage::Error { code: ErrorCode::InvalidArgument, .. }));
    assert_eq!(h.uids_in("s").await, ["a", "b", "c"]);
}

#[tokio::test]
async fn an_offer_in_the_join_goes_to_the_longest_member_only_right_after_user_joined() {
    let h = Harness::start().await;
    let offer = |from: &str| json!({"type": "offer", "sdp": format!("v=0 {from}")});

    // Alone in the room: the offer has nobody to go to, and `joined` says so.
    let mut a = h.join_offering("a", "s", offer("a")).await;
    assert_eq!(a.joined.offered_to, None);
    let mut b = h.join("b", "s").await;
    assert_eq!(b.joined.offered_to, None, "a join without an offer offers to nobody");
    expect_user_joined(a.next().await, "b", &["a", "b"]);

    // c's offer goes to a (in the room the longest), after a's user_joined; b gets none.
    let c = h.join_offering("c", "s", offer("c")).await;
    assert_eq!(c.joined.offered_to.as_deref(), Some(a.resource()));
    expect_user_joined(a.next().await, "c", &["a", "b", "c"]);
    match a.next().await {
        ServerMessage::Signal { from, payload } => {
            assert_eq!(from.resource, c.resource());
            assert_eq!(payload, offer("c"));
        }
        other => panic!("expected c's offer, got {other:?}"),
    }
    expect_user_joined(b.next().await, "c", &["a", "b", "c"]);
    // Had b received c's offer, it would be queued before this one.
    c.sender.signal(b.resource(), json!({"ice": "c->b"})).expect("sends");
    match b.next().await {
        ServerMessage::Signal { payload, .. } => assert_eq!(payload, json!({"ice": "c->b"})),
        other => panic!("expected c's candidate, got {other:?}"),
    }
}

#[tokio::test]
async fn leaving_and_dropping_the_socket_both_send_user_left_with_the_new_list() {
    let h = Harness::start().await;
    let mut a = h.join("a", "s").await;
    let mut b = h.join("b", "s").await;

    // A third member on a raw socket, to drop its TCP connection without a close frame.
    let token = h.token("c", "s").await;
    let (mut raw, _) = tokio_tungstenite::connect_async(h.server.ws_url()).await.expect("connects");
    raw.send(Message::text(json!({"type": "join", "token": token}).to_string())).await.expect("sends");
    let joined = raw.next().await.expect("a message").expect("readable");
    assert!(joined.to_text().expect("text").contains(r#""type":"joined""#));
    expect_user_joined(a.next().await, "b", &["a", "b"]);
    expect_user_joined(a.next().await, "c", &["a", "b", "c"]);
    expect_user_joined(b.next().await, "c", &["a", "b", "c"]);

    drop(raw);
    expect_user_left(a.next().await, "c", &["a", "b"]);
    expect_user_left(b.next().await, "c", &["a", "b"]);

    b.sender.close().await;
    assert!(b.sender.is_closed());
    expect_user_left(a.next().await, "b", &["a"]);
    // b's own stream ends without a SIGNALING_LOST: it asked to leave.
    assert_eq!(b.events.recv().await, None);

    a.sender.close().await;
    assert_eq!(h.uids_in("s").await, Vec::<String>::new(), "the empty room is gone");
}

#[tokio::test]
async fn three_members_then_one_leaves_without_ending_the_call() {
    let h = Harness::start().await;
    let mut a = h.join("a", "s").await;
    let mut b = h.join("b", "s").await;
    let c = h.join("c", "s").await;
    assert_eq!(uids(&c.joined.users), ["a", "b", "c"]);
    expect_user_joined(a.next().await, "b", &["a", "b"]);
    expect_user_joined(a.next().await, "c", &["a", "b", "c"]);
    expect_user_joined(b.next().await, "c", &["a", "b", "c"]);

    // end_call with three members is a plain leave: no call_ended for anyone.
    c.sender.end_call().expect("sends");
    expect_user_left(a.next().await, "c", &["a", "b"]);
    expect_user_left(b.next().await, "c", &["a", "b"]);
    assert_eq!(h.uids_in("s").await, ["a", "b"]);

    // Now a two-member call: a ends it, b gets call_ended then user_left.
    a.sender.end_call().expect("sends");
    match b.next().await {
        ServerMessage::CallEnded { by } => assert_eq!(by.uid, "a"),
        other => panic!("expected call_ended, got {other:?}"),
    }
    expect_user_left(b.next().await, "a", &["b"]);
    a.sender.closed().await;
    assert_eq!(a.events.recv().await, None, "a's socket was closed by the server, cleanly");
}

#[tokio::test]
async fn state_changes_reach_the_others_and_newcomers_learn_them() {
    let h = Harness::start().await;
    let mut a = h.join("a", "s").await;
    let mut b = h.join("b", "s").await;
    expect_user_joined(a.next().await, "b", &["a", "b"]);

    a.sender.change_state(StateChange::MuteChanged { muted: true }).expect("sends");
    b.sender.change_state(StateChange::RecordingChanged { started: true }).expect("sends");
    a.sender.change_state(StateChange::SwitchToVideoRequested).expect("sends");

    match b.next().await {
        ServerMessage::StateChanged { user, change } => {
            assert_eq!(user.uid, "a");
            assert_eq!(change, StateChange::MuteChanged { muted: true });
        }
        other => panic!("expected state_changed, got {other:?}"),
    }
    match a.next().await {
        ServerMessage::StateChanged { user, change } => {
            assert_eq!(user.uid, "b");
            assert_eq!(change, StateChange::RecordingChanged { started: true });
        }
        other => panic!("expected state_changed, got {other:?}"),
    }
    assert!(matches!(
        b.next().await,
        ServerMessage::StateChanged { change: StateChange::SwitchToVideoRequested, .. }
    ));
    let accept = StateChange::SwitchToVideoAccepted { request_initiated_by: a.resource().to_owned() };
    b.sender.change_state(accept.clone()).expect("sends");
    match a.next().await {
        ServerMessage::StateChanged { user, change } => {
            assert_eq!(user.uid, "b");
            assert_eq!(change, accept);
        }
        other => panic!("expected state_changed, got {other:?}"),
    }

    let c = h.join("c", "s").await;
    let states: Vec<(bool, bool)> = c.joined.states.iter().map(|s| (s.audio_muted, s.recording)).collect();
    assert_eq!(states, [(true, false), (false, true), (false, false)]);
    let switched_by = c.joined.switched_to_video_by.as_ref().map(|u| u.uid.as_str());
    assert_eq!(switched_by, Some("a"), "a newcomer learns the call was switched to video, and by whom");
}

#[tokio::test]
async fn a_switch_to_video_asked_alone_is_recorded_for_newcomers_and_a_fresh_room_has_none() {
    let h = Harness::start().await;
    let a = h.join("a", "s").await;
    assert_eq!(a.joined.switched_to_video_by, None);
    a.sender.change_state(StateChange::SwitchToVideoRequested).expect("sends");
    let mut b = h.join("b", "s").await;
    assert_eq!(b.joined.switched_to_video_by.as_ref().map(|u| u.uid.as_str()), Some("a"));
    // A room that emptied starts over as an audio call.
    a.sender.close().await;
    expect_user_left(b.next().await, "a", &["b"]);
    b.sender.close().await;
    assert_eq!(h.uids_in("s").await, Vec::<String>::new());
    let c = h.join("c", "s").await;
    assert_eq!(c.joined.switched_to_video_by, None);
}

#[tokio::test]
async fn forged_expired_and_mismatched_tokens_are_refused_and_nothing_joins() {
    let h = Harness::start().await;
    let mut alice = h.join("alice", "s1").await;

    let other_key = b"another-secret-another-secret-00";
    let forged = h.craft(other_key, "mallory", "s1", now_s(), now_s() + 600);
    h.assert_refused(&forged, Some("s1"), ErrorCode::TokenInvalid).await;
    h.assert_refused("not-a-jwt", Some("s1"), ErrorCode::TokenInvalid).await;
    h.assert_refused("", None, ErrorCode::TokenInvalid).await;

    // Signed with the right key but expired; a forged expired token reads as invalid.
    let expired = h.craft(h.secret.as_bytes(), "bob", "s1", now_s() - 600, now_s() - 300);
    h.assert_refused(&expired, Some("s1"), ErrorCode::TokenExpired).await;
    let forged_expired = h.craft(other_key, "bob", "s1", now_s() - 600, now_s() - 300);
    h.assert_refused(&forged_expired, Some("s1"), ErrorCode::TokenInvalid).await;

    // A genuine token, but for another session.
    let for_s2 = h.token("bob", "s2").await;
    h.assert_refused(&for_s2, Some("s1"), ErrorCode::TokenSessionMismatch).await;
    h.assert_refused(&for_s2, Some(""), ErrorCode::SessionIdNull).await;

    // The same refusals through the URL.
    let url = format!("{}?token={forged}&session_id=s1", h.server.ws_url());
    let (mut raw, _) = tokio_tungstenite::connect_async(url).await.expect("connects");
    let first = raw.next().await.expect("a message").expect("readable");
    let msg: ServerMessage = serde_json::from_str(first.to_text().expect("text")).expect("decodes");
    assert!(matches!(msg, ServerMessage::Error { code: ErrorCode::TokenInvalid, .. }), "{msg:?}");
    match raw.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1008),
        other => panic!("expected a close frame after the refusal, got {other:?}"),
    }

    // Nothing joined: the room still holds alice alone, and her next message is about
    // the next real join, not any of the refused ones.
    assert_eq!(h.uids_in("s1").await, ["alice"]);
    assert_eq!(h.uids_in("s2").await, Vec::<String>::new());
    let _carol = h.join("carol", "s1").await;
    expect_user_joined(alice.next().await, "carol", &["alice", "carol"]);

    // The genuine s2 token still joins its own session, and the token's session is used
    // when the join names none.
    let (joined, ..) = h.client.join(&for_s2, None).await.expect("joins s2");
    assert_eq!((joined.session_id.as_str(), joined.you.uid.as_str()), ("s2", "bob"));
}

#[tokio::test]
async fn short_lived_tokens_expire() {
    let secret = Secret::generate().expect("random");
    let mut config = ServerConfig::new(API_KEY, secret);
    config.token_ttl = Duration::from_secs(1);
    let server = start("127.0.0.1:0".parse().expect("addr"), config).await.expect("starts");
    let client = SignalingClient::new(&server.http_url()).expect("client");
    let user = client.create_user(API_KEY, "alice", "Alice", "").await.expect("user");
    let call = client.generate_token("s", &user.auth_token).await.expect("token");
    let claims = jsonwebtoken::dangerous::insecure_decode::<CallClaims>(&call.token).expect("a JWT").claims;
    assert_eq!(claims.exp - claims.iat, 1);
    // Waiting for a deadline the server enforces, not measuring anything.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = client.join(&call.token, Some("s")).await.expect_err("expired");
    assert_eq!(err.code(), Some(ErrorCode::TokenExpired));
}

#[tokio::test]
async fn the_token_endpoints_refuse_with_the_seed_codes() {
    let h = Harness::start().await;
    let err = h.client.create_user("wrong-key", "alice", "Alice", "").await.expect_err("bad key");
    assert_eq!(err.code(), Some(ErrorCode::ApiKeyInvalid));
    let err = h.client.create_user("", "alice", "Alice", "").await.expect_err("no key");
    assert_eq!(err.code(), Some(ErrorCode::ApiKeyInvalid));
    let err = h.client.session_info("wrong-key", "s1").await.expect_err("bad key");
    assert_eq!(err.code(), Some(ErrorCode::ApiKeyInvalid));

    let err = h.client.generate_token("s1", "sbat_not_issued_here").await.expect_err("unknown");
    assert_eq!(err.code(), Some(ErrorCode::AuthTokenNotFound));

    let user =
        h.client.create_user(API_KEY, "alice", "Alice", "https://a.example/a.png").await.expect("user");
    assert_eq!(user.uid, "alice");
    let err = h.client.generate_token("", &user.auth_token).await.expect_err("no session");
    assert_eq!(err.code(), Some(ErrorCode::SessionIdNull));
    let err = h.client.generate_token("s1", "").await.expect_err("no auth token");
    assert_eq!(err.code(), Some(ErrorCode::UserAuthTokenNull));

    // Absent fields (not just empty ones), straight over HTTP, with the CallsException body.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/tokens", h.server.http_url());
    let response =
        http.post(&url).json(&json!({"auth_token": user.auth_token})).send().await.expect("answers");
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], "SESSION_ID_NULL");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    let response = http.post(&url).json(&json!({"session_id": "s1"})).send().await.expect("answers");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], "USER_AUTH_TOKEN_NULL");

    // The happy path carries the user into the token.
    let call = h.client.generate_token("s1", &user.auth_token).await.expect("token");
    let (joined, ..) = h.client.join(&call.token, Some("s1")).await.expect("joins");
    assert_eq!(joined.you.avatar, "https://a.example/a.png");
}

#[tokio::test]
async fn a_bad_message_after_joining_is_answered_and_the_member_stays() {
    let h = Harness::start().await;
    let mut a = h.join("a", "s").await;
    let b = h.join("b", "s").await;
    expect_user_joined(a.next().await, "b", &["a", "b"]);

    let token = h.token("a", "s").await;
    a.sender
        .send(switchboard_signaling::ClientMessage::Join {
            token,
            session_id: None,
            version: None,
            offer: None,
        })
        .expect("sends");
    assert!(matches!(a.next().await, ServerMessage::Error { code: ErrorCode::InvalidState, .. }));
    a.sender.send(switchboard_signaling::ClientMessage::Unknown).expect("sends");
    assert!(matches!(a.next().await, ServerMessage::Error { code: ErrorCode::InvalidArgument, .. }));

    // Still a member: b can reach a.
    b.sender.signal(a.resource(), json!({"still": "here"})).expect("sends");
    assert!(matches!(a.next().await, ServerMessage::Signal { .. }));
}

#[tokio::test]
async fn shutdown_closes_every_room_and_clients_see_signaling_lost() {
    let h = Harness::start().await;
    let mut a = h.join("a", "s").await;
    let Harness { server, client, .. } = h;
    server.shutdown().await.expect("stops");
    match a.next().await {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::SignalingLost),
        other => panic!("expected signaling_lost, got {other:?}"),
    }
    assert_eq!(a.events.recv().await, None);
    let err = client.create_user(API_KEY, "b", "B", "").await.expect_err("server is gone");
    assert!(matches!(err, ClientError::Http { .. }), "{err}");
}

#[tokio::test]
async fn dropping_every_sender_closes_the_connection_cleanly() {
    let h = Harness::start().await;
    let mut a = h.join("a", "s").await;
    let b = h.join("b", "s").await;
    expect_user_joined(a.next().await, "b", &["a", "b"]);
    let Member { sender, mut events, .. } = b;
    // Session code awaits these from spawned tasks, so they must be Send.
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&sender.close());
    assert_send(&sender.closed());
    drop(sender);
    expect_user_left(a.next().await, "b", &["a"]);
    assert_eq!(events.recv().await, None, "a clean close, not SIGNALING_LOST");
}

/// `switchboard serve` as a process: flags, the API key from the environment, the secret
/// from `--secret-file`, the stdout address line, and a clean exit on SIGTERM.
#[tokio::test]
async fn the_serve_command_signs_with_the_secret_file_and_stops_on_sigterm() {
    use std::io::BufRead;

    let dir = tempfile::tempdir().expect("tempdir");
    let secret_path = dir.path().join("secret");
    std::fs::write(&secret_path, "a-secret-from-a-file-0123456789\n").expect("writes");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--token-ttl", "120", "--secret-file"])
        .arg(&secret_path)
        .env("SWITCHBOARD_API_KEY", API_KEY)
        .env_remove("SWITCHBOARD_SECRET")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawns switchboard serve");
    // Kills the server if an assertion fails before it is stopped on purpose.
    struct KillOnDrop(Option<std::process::Child>);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if let Some(child) = self.0.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let stdout = child.stdout.take().expect("piped");
    let mut guard = KillOnDrop(Some(child));
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("reads the address line");
    let url = line.trim().rsplit(' ').next().expect("an address").to_owned();
    assert!(url.starts_with("ws://127.0.0.1:") && url.ends_with("/v1/ws"), "{line}");

    let client = SignalingClient::new(&url).expect("client");
    let user = client.create_user(API_KEY, "alice", "Alice", "").await.expect("user");
    let call = client.generate_token("s", &user.auth_token).await.expect("token");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let key = jsonwebtoken::DecodingKey::from_secret(b"a-secret-from-a-file-0123456789");
    let claims = jsonwebtoken::decode::<CallClaims>(&call.token, &key, &validation)
        .expect("signed with the file's secret")
        .claims;
    assert_eq!((claims.sub.as_str(), claims.sid.as_str(), claims.exp - claims.iat), ("alice", "s", 120));
    let (joined, ..) = client.join(&call.token, Some("s")).await.expect("joins");
    assert_eq!(uids(&joined.users), ["alice"]);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &guard.0.as_ref().expect("running").id().to_string()])
        .status()
        .expect("runs kill");
    assert!(status.success());
    let mut child = guard.0.take().expect("running");
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.expect("joins").expect("waits");
    assert!(exit.success(), "serve exits cleanly on SIGTERM: {exit}");

    // A secret too short to be real is refused at start.
    std::fs::write(&secret_path, "short").expect("writes");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", "k", "--secret-file"])
        .arg(&secret_path)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at least 16"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Garbage before a join is refused with an error and a close frame, like a bad token.
#[tokio::test]
async fn garbage_instead_of_a_join_is_refused_and_closed() {
    let h = Harness::start().await;
    let cases = [
        (Message::text("{not json"), ErrorCode::InvalidArgument),
        (Message::text(r#"{"type":"leave"}"#), ErrorCode::InvalidState),
        (Message::text(r#"{"type":"join","token":"x","version":99}"#), ErrorCode::InvalidArgument),
        (Message::binary(vec![0u8, 159, 146, 150]), ErrorCode::InvalidArgument),
    ];
    for (frame, code) in cases {
        let (mut raw, _) = tokio_tungstenite::connect_async(h.server.ws_url()).await.expect("connects");
        raw.send(frame.clone()).await.expect("sends");
        let first = raw.next().await.expect("a message").expect("readable");
        let msg: ServerMessage = serde_json::from_str(first.to_text().expect("text")).expect("decodes");
        assert!(matches!(msg, ServerMessage::Error { code: got, .. } if got == code), "{frame:?}: {msg:?}");
        assert!(matches!(raw.next().await, Some(Ok(Message::Close(Some(_))))), "{frame:?}: closed after");
    }
    assert_eq!(h.uids_in("s").await, Vec::<String>::new());
}

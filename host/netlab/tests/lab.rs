//! Real traffic between namespaces through the lab's bridge. Each test asserts the
//! mechanism (counts, order, lower bounds on time), never an upper bound on time.
//!
//! These need root; without it each test prints why it skips and passes.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use switchboard_netlab::{Direction, Impairment, Lab, cleanup_stale, ms, unavailable};

/// A lab with these hosts, or None (after saying why) where labs cannot run.
fn lab(hosts: &[&str]) -> Option<Lab> {
    if let Some(why) = unavailable() {
        eprintln!("skipping: {why}");
        return None;
    }
    let builder = hosts.iter().fold(Lab::builder(), |b, h| b.host(h));
    Some(builder.build().expect("build the lab"))
}

/// A UDP socket made inside `host`'s namespace, bound to its lab address.
fn socket(lab: &Lab, host: &str) -> UdpSocket {
    let addr = lab.addr(host);
    let socket = lab.run_in(host, || UdpSocket::bind((addr, 0))).expect("enter the namespace").expect("bind");
    socket.set_read_timeout(Some(ms(50))).expect("read timeout");
    // Room for a few thousand datagrams, so a receiver thread that the machine's load
    // keeps off the CPU for a while loses nothing the bridge did not drop.
    let size: libc::c_int = 8 << 20;
    // SAFETY: passes a pointer to a local c_int and its exact size; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
    socket
}

fn datagram(seq: u32, size: usize) -> Vec<u8> {
    let mut bytes = vec![0xab; size.max(4)];
    bytes[..4].copy_from_slice(&seq.to_be_bytes());
    bytes
}

/// Sends `count` datagrams numbered from 0, `burst` at a time with `gap` between bursts.
fn send(from: &UdpSocket, to: SocketAddr, count: u32, size: usize, burst: u32, gap: Duration) {
    for seq in 0..count {
        from.send_to(&datagram(seq, size), to).expect("send");
        if (seq + 1) % burst == 0 {
            thread::sleep(gap);
        }
    }
}

/// What a receiver saw: sequence numbers in arrival order, bytes, and the last arrival.
struct Received {
    seqs: Vec<u32>,
    bytes: u64,
    last: Option<Instant>,
}

impl Received {
    /// Arrivals with a smaller number than one that arrived before them.
    fn out_of_order(&self) -> usize {
        let mut max = None;
        let mut late = 0;
        for &s in &self.seqs {
            if max.is_some_and(|m| s < m) {
                late += 1;
            }
            max = max.max(Some(s));
        }
        late
    }

    fn distinct(&self) -> usize {
        self.seqs.iter().collect::<BTreeSet<_>>().len()
    }
}

/// Receives until `expected` datagrams came, or nothing came for `quiet` once the sender
/// is `done` (at most 20 s in all).
fn receive(socket: &UdpSocket, expected: usize, quiet: Duration, done: &AtomicBool) -> Received {
    let mut got = Received { seqs: Vec::new(), bytes: 0, last: None };
    let mut buf = [0u8; 2048];
    // A loaded machine (a parallel build, other tests) can starve the bridge thread for
    // hundreds of milliseconds; "quiet" must outlast that, or a late frame counts as lost.
    let quiet = quiet.max(Duration::from_secs(2));
    let started = Instant::now();
    let mut idle_since = Instant::now();
    while got.seqs.len() < expected && started.elapsed() < Duration::from_secs(20) {
        if !done.load(Ordering::Acquire) {
            idle_since = Instant::now();
        } else if idle_since.elapsed() >= quiet {
            break;
        }
        match socket.recv_from(&mut buf) {
            Ok((n, _)) if n >= 4 => {
                got.seqs.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
                got.bytes += n as u64;
                got.last = Some(Instant::now());
                idle_since = Instant::now();
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
    got
}

/// Sends from one socket while receiving on another, and returns what arrived.
fn one_way(
    tx: &UdpSocket,
    rx: &UdpSocket,
    count: u32,
    size: usize,
    burst: u32,
    gap: Duration,
    quiet: Duration,
) -> Received {
    let to = rx.local_addr().expect("address");
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let receiver = scope.spawn(|| receive(rx, count as usize, quiet, &done));
        send(tx, to, count, size, burst, gap);
        done.store(true, Ordering::Release);
        receiver.join().expect("receiver thread")
    })
}

/// Echoes every datagram back until `stop` (bounded by the socket's read timeout).
fn echo(socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], from);
        }
    }
}

/// Round-trip times of `count` sequential pings (a ping with no answer within 2 s is None).
fn pings(client: &UdpSocket, server: SocketAddr, count: u32) -> Vec<Option<Duration>> {
    let mut buf = [0u8; 64];
    (0..count)
        .map(|seq| {
            let sent = Instant::now();
            client.send_to(&datagram(1000 + seq, 32), server).expect("send");
            while sent.elapsed() < Duration::from_secs(2) {
                if let Ok((n, _)) = client.recv_from(&mut buf)
                    && n >= 4
                    && u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) == 1000 + seq
                {
                    return Some(sent.elapsed());
                }
            }
            None
        })
        .collect()
}

#[test]
fn hosts_talk_through_the_bridge_and_reach_nothing_else() {
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let (alice, bob) = (socket(&lab, "alice"), socket(&lab, "bob"));

    let got = one_way(&alice, &bob, 200, 100, 20, ms(1), ms(500));
    assert_eq!(got.seqs.len(), 200, "every datagram crosses a clean link");
    assert_eq!(got.out_of_order(), 0);
    let (a, b) = (lab.link("alice").stats(), lab.link("bob").stats());
    assert_eq!(a.egress.forwarded, 200, "alice's frames: {a:?}");
    assert_eq!(b.ingress.forwarded, 200, "bob's frames: {b:?}");
    assert_eq!(a.egress.errors + b.ingress.errors, 0);
    // Static neighbours and no IPv6: nothing but our datagrams crossed, not even ARP.
    assert_eq!(a.ingress.forwarded, 0, "nothing was sent to alice: {a:?}");

    // Each namespace has its own address, loopback, and no route out of the lab: a socket
    // cannot even be connected to an address outside the subnet (nothing is sent).
    let outside = SocketAddr::from((Ipv4Addr::new(198, 19, 255, 1), 9));
    let err = lab
        .run_in("alice", || UdpSocket::bind("0.0.0.0:0").and_then(|s| s.connect(outside)))
        .expect("enter")
        .expect_err("no route leaves the lab");
    assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
    let looped = lab
        .run_in("alice", || -> std::io::Result<usize> {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.set_read_timeout(Some(ms(500)))?;
            s.send_to(b"self", s.local_addr()?)?;
            s.recv(&mut [0u8; 8])
        })
        .expect("enter")
        .expect("loopback is up");
    assert_eq!(looped, 4);

    // A child process started through the lab sees alice's interfaces only.
    let out = lab.command("alice", "ip").args(["-o", "addr", "show"]).output().expect("run ip");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("inet {}/24", lab.addr("alice"))), "{text}");
    assert!(!text.contains(&lab.addr("bob").to_string()), "{text}");
    assert!(!text.contains("inet6"), "IPv6 is off in the lab: {text}");
}

#[test]
fn loss_drops_about_its_share_and_the_counters_say_which() {
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let (alice, bob) = (socket(&lab, "alice"), socket(&lab, "bob"));
    lab.link("bob").set(Impairment::loss(0.20)).expect("valid impairment");

    let sent = 2000;
    let got = one_way(&alice, &bob, sent, 100, 25, ms(1), ms(400));
    let lost = sent as usize - got.seqs.len();
    let share = lost as f64 / f64::from(sent);
    eprintln!("loss 20%: {lost} of {sent} lost ({:.1}%)", share * 100.0);
    let bob_in = lab.link("bob").stats().ingress;
    // Binomial(2000, 0.2) has a standard deviation of 18 frames; ±4 of them.
    assert!((0.164..=0.236).contains(&share), "{lost} of {sent} lost; bob's ingress: {bob_in:?}");
    assert_eq!(bob_in.lost as usize, lost, "each missing datagram is one counted loss: {bob_in:?}");
    assert_eq!(bob_in.forwarded as usize, got.seqs.len());
    assert_eq!(lab.link("alice").stats().egress.lost, 0, "alice's link is clean");
    assert_eq!(got.distinct(), got.seqs.len(), "no duplicates");
}

#[test]
fn delay_holds_each_direction_for_at_least_its_time() {
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let (alice, bob) = (socket(&lab, "alice"), socket(&lab, "bob"));
    let server = bob.local_addr().expect("address");
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| echo(&bob, &stop));
        let clean = pings(&alice, server, 3);
        lab.link("bob").set(Impairment::delay(ms(100))).expect("valid impairment");
        let delayed = pings(&alice, server, 5);
        stop.store(true, Ordering::Relaxed);

        let clean: Vec<Duration> = clean.into_iter().map(|r| r.expect("clean ping answered")).collect();
        let delayed: Vec<Duration> = delayed.into_iter().map(|r| r.expect("delayed ping answered")).collect();
        eprintln!("RTT clean {clean:?}, with 100 ms each way {delayed:?}");
        // Into bob (his ingress) and back out (his egress): 100 ms each at least.
        for rtt in &delayed {
            assert!(*rtt >= ms(200), "RTT {rtt:?} under a 100 ms delay each way");
        }
        let stats = lab.link("bob").stats();
        assert!(stats.ingress.delayed >= 5 && stats.egress.delayed >= 5, "{stats:?}");
    });
}

#[test]
fn jitter_reorders_frames_that_a_fixed_delay_keeps_in_order() {
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let (alice, bob) = (socket(&lab, "alice"), socket(&lab, "bob"));

    // A fixed delay moves every frame by the same amount: order is kept.
    lab.link("bob").set_direction(Direction::Ingress, Impairment::delay(ms(30))).expect("valid impairment");
    let steady = one_way(&alice, &bob, 300, 100, 5, ms(1), ms(400));
    assert_eq!(steady.seqs.len(), 300);
    assert_eq!(steady.out_of_order(), 0, "a fixed delay reorders nothing");

    // ±25 ms around 30 ms, with a frame every ~0.2 ms: frames overtake each other.
    let jitter = Impairment::delay(ms(30)).with_jitter(ms(25));
    lab.link("bob").set_direction(Direction::Ingress, jitter).expect("valid impairment");
    let shaken = one_way(&alice, &bob, 300, 100, 5, ms(1), ms(400));
    let late = shaken.out_of_order();
    eprintln!("jitter ±25 ms: {late} of {} datagrams arrived after a later one", shaken.seqs.len());
    assert_eq!(shaken.seqs.len(), 300, "jitter loses nothing");
    assert!(late >= 30, "only {late} of 300 out of order under ±25 ms of jitter");
    assert_eq!(lab.link("bob").stats().ingress.reordered, 0, "no explicit reordering was asked for");
}

#[test]
fn explicit_reordering_swaps_frames_without_delay() {
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let (alice, bob) = (socket(&lab, "alice"), socket(&lab, "bob"));
    lab.link("bob").set(Impairment::reorder(0.2)).expect("valid impairment");

    let got = one_way(&alice, &bob, 500, 100, 10, ms(1), ms(400));
    let late = got.out_of_order();
    let swapped = lab.link("bob").stats().ingress.reordered;
    eprintln!(
        "reorder 20%: {late} of {} arrived after a later one; the bridge swapped {swapped}",
        got.seqs.len()
    );
    assert_eq!(got.seqs.len(), 500, "reordering loses nothing");
    // About 500 × 0.2 / 1.2 ≈ 83 (a held frame's successor is never held).
    assert!((40..=140).contains(&swapped), "{swapped} swaps");
    assert_eq!(late as u64, swapped, "each swap makes exactly one late arrival");
}

#[test]
fn a_down_link_carries_nothing_until_it_is_up() {
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let (alice, bob) = (socket(&lab, "alice"), socket(&lab, "bob"));

    lab.link("bob").down();
    assert!(lab.link("bob").is_down());
    let during = one_way(&alice, &bob, 100, 100, 10, ms(1), ms(300));
    let back = one_way(&bob, &alice, 50, 100, 10, ms(1), ms(300));
    assert!(during.seqs.is_empty() && back.seqs.is_empty(), "nothing crosses a down link");
    let stats = lab.link("bob").stats();
    assert_eq!(stats.ingress.down, 100, "{stats:?}");
    assert_eq!(stats.egress.down, 50, "{stats:?}");

    lab.link("bob").up();
    let after = one_way(&alice, &bob, 100, 100, 10, ms(1), ms(500));
    assert_eq!(after.seqs.len(), 100, "traffic resumes at once (no ARP to redo)");

    // One direction only: bob can receive but not send.
    lab.link("bob").set_direction(Direction::Egress, Impairment::loss(1.0)).expect("valid impairment");
    assert_eq!(one_way(&alice, &bob, 20, 100, 10, ms(1), ms(300)).seqs.len(), 20);
    assert!(one_way(&bob, &alice, 20, 100, 10, ms(1), ms(300)).seqs.is_empty());
}

#[test]
fn a_rate_cap_bounds_throughput_and_drops_what_its_queue_cannot_hold() {
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let (alice, bob) = (socket(&lab, "alice"), socket(&lab, "bob"));
    let kbit = 1000;
    lab.link("bob").set_direction(Direction::Ingress, Impairment::rate_kbit(kbit)).expect("valid impairment");

    // About 4 Mbit/s offered for about a second, to a 1 Mbit/s link.
    let (sent, size) = (500u32, 1000usize);
    let started = Instant::now();
    let got = one_way(&alice, &bob, sent, size, 10, ms(20), ms(500));
    let last = got.last.expect("something arrived");
    let elapsed = (last - started).as_secs_f64();
    let stats = lab.link("bob").stats().ingress;
    let kbit_s = got.bytes as f64 * 8.0 / elapsed / 1000.0;
    eprintln!(
        "rate cap {kbit} kbit/s: {} of {sent} datagrams, {} payload bytes in {elapsed:.2} s = {kbit_s:.0} kbit/s; \
         {} dropped by the full queue",
        got.seqs.len(),
        got.bytes,
        stats.queue_full
    );
    // Default burst at 1 Mbit/s: two full frames.
    let burst = 3028.0;
    let bound = f64::from(kbit) * 1000.0 / 8.0 * elapsed + burst;
    assert!((got.bytes as f64) <= bound, "{} bytes in {elapsed:.2} s exceed the cap ({bound:.0})", got.bytes);
    assert!(stats.queue_full > 0, "4× the rate must overflow the queue: {stats:?}");
    assert_eq!(
        stats.forwarded + stats.queue_full,
        u64::from(sent),
        "each datagram passed or was dropped: {stats:?}"
    );
    assert_eq!(got.seqs.len() as u64, stats.forwarded);
    assert_eq!(got.out_of_order(), 0, "a FIFO queue keeps order");
    // Lenient: catches a units error (bits for bytes), not a slow machine.
    assert!(kbit_s > f64::from(kbit) * 0.4, "{kbit_s:.0} kbit/s through a {kbit} kbit/s cap");
}

#[test]
fn dropping_the_lab_kills_its_processes_and_deletes_its_namespaces() {
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let names: Vec<String> =
        lab.hosts().iter().map(|h| lab.netns(h).to_owned()).chain([lab.hub_netns().to_owned()]).collect();
    for name in &names {
        assert!(Path::new("/run/netns").join(name).exists(), "{name} exists while the lab does");
    }
    let mut sleeper = lab.command("bob", "sleep").arg("30").spawn().expect("spawn sleep in bob");
    drop(lab);

    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = sleeper.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = sleeper.kill();
            break None;
        }
        thread::sleep(ms(10));
    };
    let status = status.expect("the child in bob's namespace was killed with the lab");
    assert!(!status.success(), "{status}");
    for name in &names {
        assert!(!Path::new("/run/netns").join(name).exists(), "{name} outlived the lab");
    }
}

#[test]
fn stale_namespaces_of_dead_processes_are_removed_and_live_ones_kept() {
    let Some(lab) = lab(&["alice"]) else { return };
    // A pid that is certainly dead: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().expect("spawn true");
    let dead = child.id();
    child.wait().expect("wait");
    let stale = format!("sb-{dead}-0-crashed");
    let status =
        std::process::Command::new("ip").args(["netns", "add", &stale]).status().expect("ip netns add");
    assert!(status.success());

    let removed = cleanup_stale().expect("cleanup");
    assert!(removed.contains(&stale), "{removed:?}");
    assert!(!Path::new("/run/netns").join(&stale).exists());
    assert!(Path::new("/run/netns").join(lab.netns("alice")).exists(), "a live lab is left alone");
    lab.close().expect("close");
}

#[test]
fn hosts_of_one_lab_are_named_and_checked() {
    let Some(lab) = lab(&["alice", "bob", "server"]) else { return };
    assert_eq!(lab.hosts(), ["alice", "bob", "server"]);
    let [a, b, c, d] = lab.addr("server").octets();
    assert_eq!((a, b & 0xfe, d), (198, 18, 3), "198.18.0.0/15, hosts numbered from 1");
    assert_eq!(lab.subnet(), Ipv4Addr::new(a, b, c, 0));
    assert!(lab.try_addr("mallory").is_err());
    assert!(lab.link("bob").set(Impairment::loss(2.0)).is_err());
    assert!(lab.link("bob").impairment(Direction::Egress).is_none(), "a refused impairment changes nothing");
    lab.check().expect("the bridge runs");
}

#[test]
fn tcp_survives_loss_and_delay_with_every_byte_intact() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let Some(lab) = lab(&["alice", "bob"]) else { return };
    let bob_addr = lab.addr("bob");
    let listener = lab.run_in("bob", || TcpListener::bind((bob_addr, 0))).expect("enter").expect("listen");
    let server = listener.local_addr().expect("address");
    lab.link("bob").set(Impairment::loss(0.03).with_delay(ms(5))).expect("valid impairment");

    let payload: Vec<u8> = (0..256 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let received = thread::scope(|scope| {
        let reader = scope.spawn(|| -> std::io::Result<Vec<u8>> {
            let (mut stream, _) = listener.accept()?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut all = Vec::new();
            stream.read_to_end(&mut all)?;
            Ok(all)
        });
        let mut stream = lab
            .run_in("alice", || TcpStream::connect_timeout(&server, Duration::from_secs(5)))
            .expect("enter")
            .expect("connect through the lab");
        stream.set_write_timeout(Some(Duration::from_secs(10))).expect("timeout");
        stream.write_all(&payload).expect("write");
        stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
        reader.join().expect("reader thread").expect("read")
    });
    assert_eq!(received.len(), payload.len());
    assert!(received == payload, "TCP delivers the same bytes through a lossy link");
    let stats = lab.link("bob").stats();
    eprintln!("tcp 256 KiB through 3% loss: {stats:?}");
    assert!(stats.ingress.lost + stats.egress.lost > 0, "the link did drop segments: {stats:?}");
    // Segments cross one at a time, at most one Ethernet MTU each (no 64 KiB offload frames).
    assert!(stats.ingress.forwarded_bytes <= stats.ingress.forwarded * 1514, "{stats:?}");
}

#[test]
fn a_test_that_panics_still_leaves_no_namespace_behind() {
    if let Some(why) = unavailable() {
        eprintln!("skipping: {why}");
        return;
    }
    let names = std::sync::Mutex::new(Vec::new());
    let outcome = std::panic::catch_unwind(|| {
        let lab = Lab::builder().host("doomed").build().expect("build the lab");
        names.lock().expect("lock").extend([lab.netns("doomed").to_owned(), lab.hub_netns().to_owned()]);
        panic!("a deliberate panic, to check that unwinding tears the lab down");
    });
    assert!(outcome.is_err());
    let names = names.into_inner().expect("lock");
    assert_eq!(names.len(), 2);
    for name in &names {
        assert!(!Path::new("/run/netns").join(name).exists(), "{name} outlived a panic");
    }
}

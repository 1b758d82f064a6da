//! The hub: a thread inside the hub namespace that moves Ethernet frames between the
//! hosts' veth ports through AF_PACKET sockets, and impairs them on the way.
//!
//! A frame from host A to host B crosses two stages: A's egress, then B's ingress. Each
//! stage decides loss, queueing and delay when the frame enters it, and the frame waits in
//! one time-ordered queue (a heap) until it leaves. Nothing sleeps per frame: the thread
//! waits in ppoll() for a socket or for the next departure, whichever comes first.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Error;
use crate::impair::{Direction, Impairment, REORDER_HOLD, Stage, Verdict};
use crate::ns;
use crate::stats::{Counters, DirStats};

/// The virtio-net header the kernel puts before each frame (PACKET_VNET_HDR). Passing it
/// back on send keeps checksum-offloaded and segmentation-offloaded frames valid.
const VNET_HDR: usize = 10;
const ETH_HDR: usize = 14;
/// The largest frame read: a 64 KiB GSO frame and its header.
const MAX_FRAME: usize = 65_536 + VNET_HDR + ETH_HDR;
/// Frames waiting in the bridge at once, over all stages; more are dropped as queue drops.
const MAX_IN_FLIGHT: usize = 100_000;
/// Frames read from one socket, and events run, per turn of the loop.
const BATCH: usize = 512;
/// The longest ppoll() wait, so a stop is seen even if the wake-up is lost.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// How often the kernel's count of frames our sockets had no room for is read.
const OVERRUN_EVERY: Duration = Duration::from_millis(100);

const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VNET_HDR: libc::c_int = 15;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_OUTGOING: u8 = 4;
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// One port of the hub: the hub-side end of a host's veth pair.
#[derive(Debug, Clone)]
pub(crate) struct PortSpec {
    pub(crate) ifname: String,
    /// The MAC of the host's end, so the switch knows where to send before learning.
    pub(crate) host_mac: [u8; 6],
}

/// What the lab and the bridge thread share: per-port settings and counters.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) ports: Vec<PortShared>,
    generation: AtomicU64,
    stop: AtomicBool,
    wake: OwnedFd,
    failure: Mutex<Option<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct PortShared {
    impairments: Mutex<[Impairment; 2]>,
    down: AtomicBool,
    counters: [Counters; 2],
}

impl Shared {
    pub(crate) fn set(&self, port: usize, dir: Direction, imp: Impairment) {
        if let Some(p) = self.ports.get(port) {
            p.impairments.lock().unwrap_or_else(PoisonError::into_inner)[dir.index()] = imp;
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    pub(crate) fn impairment(&self, port: usize, dir: Direction) -> Impairment {
        self.ports
            .get(port)
            .map(|p| p.impairments.lock().unwrap_or_else(PoisonError::into_inner)[dir.index()].clone())
            .unwrap_or_default()
    }

    pub(crate) fn set_down(&self, port: usize, down: bool) {
        if let Some(p) = self.ports.get(port) {
            p.down.store(down, Ordering::Release);
        }
    }

    pub(crate) fn is_down(&self, port: usize) -> bool {
        self.ports.get(port).is_some_and(|p| p.down.load(Ordering::Acquire))
    }

    pub(crate) fn stats(&self, port: usize, dir: Direction) -> DirStats {
        self.ports.get(port).map(|p| p.counters[dir.index()].snapshot()).unwrap_or_default()
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn fail(&self, message: String) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert(message);
    }

    fn counters(&self, port: usize, dir: Direction) -> &Counters {
        &self.ports[port].counters[dir.index()]
    }
}

/// The running bridge; stopping it (or dropping it) joins its thread.
#[derive(Debug)]
pub(crate) struct Bridge {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Starts the bridge thread in `hub_netns` and waits until every port's socket is bound,
    /// so no frame sent after this returns is missed.
    pub(crate) fn start(
        hub_netns: &str,
        ports: Vec<PortSpec>,
        seed: u64,
        lifetime: Duration,
    ) -> Result<Bridge, Error> {
        let hub = ns::open(hub_netns)?;
        let wake = eventfd().map_err(|source| Error::Netns {
            netns: hub_netns.to_owned(),
            what: "making the bridge's wake-up eventfd",
            source,
        })?;
        let shared = Arc::new(Shared {
            ports: ports.iter().map(|_| PortShared::default()).collect(),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake,
            failure: Mutex::new(None),
        });
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread_shared = Arc::clone(&shared);
        let name = hub_netns.to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("netlab bridge {hub_netns}"))
            .spawn(move || {
                let relay = match Relay::open(&name, &hub, &ports, thread_shared, seed) {
                    Ok(relay) => relay,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                relay.run(lifetime);
            })
            .map_err(|source| Error::Netns {
                netns: hub_netns.to_owned(),
                what: "starting the bridge thread",
                source,
            })?;
        let mut bridge = Bridge { shared, thread: Some(thread) };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(bridge),
            Ok(Err(e)) => {
                bridge.stop();
                Err(e)
            }
            Err(_) => {
                bridge.stop();
                Err(Error::Bridge { message: "the bridge thread did not start within 10 s".to_owned() })
            }
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    pub(crate) fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one` to our eventfd; the pointer and length
        // describe that local for the duration of the call.
        unsafe { libc::write(self.shared.wake.as_raw_fd(), (&raw const one).cast(), size_of::<u64>()) };
        if let Some(thread) = self.thread.take() {
            // The thread catches nothing; a panic in it already printed its message.
            let _ = thread.join();
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop();
    }
}

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd() takes no pointers; the descriptor is owned below.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just opened and nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn setsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: passes a pointer to a local c_int and its exact size; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// An AF_PACKET socket on one port, in the calling thread's namespace.
fn open_port(ifname: &str) -> io::Result<(OwnedFd, libc::c_int)> {
    let cname = std::ffi::CString::new(ifname)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in an interface name"))?;
    // SAFETY: if_nametoindex reads the NUL-terminated name, which outlives the call.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    let ifindex = ifindex as libc::c_int;
    // Protocol 0: the socket receives nothing until bind() names the port, so no frame of
    // another interface slips in between.
    // SAFETY: socket() takes no pointers; the descriptor is owned below.
    let raw = unsafe {
        libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just opened and nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let raw = fd.as_raw_fd();
    // Our own transmissions on this port are not frames to forward.
    setsockopt_int(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)?;
    setsockopt_int(raw, libc::SOL_PACKET, PACKET_VNET_HDR, 1)?;
    // Room for bursts; FORCE (root) passes rmem_max, and the plain option is the fallback.
    if setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, SOCKET_BUFFER).is_err() {
        setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, SOCKET_BUFFER)?;
    }
    if setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, SOCKET_BUFFER).is_err() {
        setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, SOCKET_BUFFER)?;
    }
    let addr = sockaddr_ll(ifindex, (libc::ETH_P_ALL as u16).to_be());
    // SAFETY: binds to a sockaddr_ll that lives on this stack frame, with its exact size.
    let rc = unsafe {
        libc::bind(raw, (&raw const addr).cast(), size_of::<libc::sockaddr_ll>() as libc::socklen_t)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fd, ifindex))
}

/// Frames the kernel dropped on this socket since the last call, because the bridge did
/// not read them in time (PACKET_STATISTICS, which resets on read).
fn overruns(fd: RawFd) -> u64 {
    #[repr(C)]
    #[derive(Default)]
    struct TpacketStats {
        packets: u32,
        drops: u32,
    }
    let mut stats = TpacketStats::default();
    let mut len = size_of::<TpacketStats>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `stats`, a local of that size.
    let rc = unsafe {
        libc::getsockopt(fd, libc::SOL_PACKET, PACKET_STATISTICS, (&raw mut stats).cast(), &mut len)
    };
    if rc == 0 { u64::from(stats.drops) } else { 0 }
}

fn sockaddr_ll(ifindex: libc::c_int, protocol_be: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data, for which all zeroes is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol_be;
    addr.sll_ifindex = ifindex;
    addr
}

/// A frame waiting in the bridge: its bytes (virtio-net header first) and where it goes
/// when its time comes.
#[derive(Debug)]
struct Event {
    at: Instant,
    seq: u64,
    step: Step,
    frame: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Leaves the sending host's egress stage for the switch.
    LeftEgress(usize),
    /// Leaves the receiving host's ingress stage for the host.
    LeftIngress(usize),
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A frame held back for explicit reordering.
#[derive(Debug)]
struct Held {
    frame: Vec<u8>,
    at: Instant,
    deadline: Instant,
}

struct Relay {
    shared: Arc<Shared>,
    socks: Vec<(OwnedFd, libc::c_int)>,
    generation: u64,
    config: Vec<[Impairment; 2]>,
    stages: Vec<[Stage; 2]>,
    held: Vec<[Option<Held>; 2]>,
    macs: HashMap<[u8; 6], usize>,
    events: BinaryHeap<Reverse<Event>>,
    seq: u64,
    buf: Vec<u8>,
}

impl Relay {
    /// Enters the hub namespace (this thread only, for good) and binds a socket per port.
    fn open(
        netns: &str,
        hub: &File,
        ports: &[PortSpec],
        shared: Arc<Shared>,
        seed: u64,
    ) -> Result<Self, Error> {
        let failed = |what, source| Error::Netns { netns: netns.to_owned(), what, source };
        ns::enter(hub.as_fd()).map_err(|e| failed("entering (setns) from the bridge thread", e))?;
        let socks = ports
            .iter()
            .map(|p| {
                open_port(&p.ifname).map_err(|e| {
                    failed(
                        "opening an AF_PACKET socket on a port",
                        io::Error::new(e.kind(), format!("{}: {e}", p.ifname)),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stages = (0..ports.len() as u64)
            .map(|i| [Stage::new(stage_seed(seed, i, 0)), Stage::new(stage_seed(seed, i, 1))])
            .collect();
        Ok(Self {
            config: vec![[Impairment::NONE, Impairment::NONE]; ports.len()],
            held: ports.iter().map(|_| [None, None]).collect(),
            macs: ports.iter().enumerate().map(|(i, p)| (p.host_mac, i)).collect(),
            shared,
            socks,
            generation: u64::MAX,
            stages,
            events: BinaryHeap::new(),
            seq: 0,
            buf: vec![0; MAX_FRAME],
        })
    }

    fn run(mut self, lifetime: Duration) {
        let started = Instant::now();
        let mut fds: Vec<libc::pollfd> = self
            .socks
            .iter()
            .map(|(fd, _)| fd.as_raw_fd())
            .chain([self.shared.wake.as_raw_fd()])
            .map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 })
            .collect();
        let mut overruns_read = started;
        // Bounded by the lab's lifetime: one turn per wake-up, and every wait is finite.
        while !self.shared.stop.load(Ordering::Acquire) {
            if overruns_read.elapsed() >= OVERRUN_EVERY {
                overruns_read = Instant::now();
                self.count_overruns();
            }
            if started.elapsed() > lifetime {
                self.shared.fail(format!("the bridge stopped after its maximum lifetime of {lifetime:?}"));
                return;
            }
            self.refresh();
            let now = Instant::now();
            self.release_held(now);
            self.run_due(now);
            let wait = self.next_wake().map_or(MAX_WAIT, |at| at.saturating_duration_since(Instant::now()));
            let wait = wait.min(MAX_WAIT);
            let ts = libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos().into(),
            };
            for p in &mut fds {
                p.revents = 0;
            }
            // SAFETY: the pollfd array is ours and its length is passed with it; the
            // timespec lives on this stack frame; no signal mask is changed.
            let rc =
                unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, &ts, std::ptr::null()) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.shared.fail(format!("ppoll in the bridge: {e}"));
                return;
            }
            // The last entry is the wake-up eventfd, written only to stop.
            for (port, polled) in fds.iter().enumerate().take(self.socks.len()) {
                if polled.revents & (libc::POLLIN | libc::POLLERR) != 0
                    && let Err(e) = self.drain(port)
                {
                    self.shared.fail(format!("reading port {port} in the bridge: {e}"));
                    return;
                }
            }
        }
    }

    /// Frames a port's socket had no room for count as the sender's egress errors.
    fn count_overruns(&self) {
        for (port, (fd, _)) in self.socks.iter().enumerate() {
            let dropped = overruns(fd.as_raw_fd());
            if dropped > 0 {
                self.shared.counters(port, Direction::Egress).errors.fetch_add(dropped, Ordering::Relaxed);
            }
        }
    }

    /// Picks up impairments changed through the lab.
    fn refresh(&mut self) {
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        for (port, config) in self.config.iter_mut().enumerate() {
            *config =
                self.shared.ports[port].impairments.lock().unwrap_or_else(PoisonError::into_inner).clone();
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let event = self.events.peek().map(|Reverse(e)| e.at);
        let hold = self.held.iter().flatten().flatten().map(|h| h.deadline).min();
        match (event, hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Reads what is waiting on one port, at most a batch.
    fn drain(&mut self, port: usize) -> io::Result<()> {
        for _ in 0..BATCH {
            // SAFETY: sockaddr_ll is plain old data, for which all zeroes is a valid value.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut from_len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: the buffer and the address are ours, with their true sizes; with
            // MSG_TRUNC the kernel still writes at most `buf.len()` bytes.
            let n = unsafe {
                libc::recvfrom(
                    self.socks[port].0.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                    (&raw mut from).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(e),
                };
            }
            let n = n as usize;
            if from.sll_pkttype == PACKET_OUTGOING {
                continue;
            }
            if n > self.buf.len() || n < VNET_HDR + ETH_HDR {
                self.shared.counters(port, Direction::Egress).errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let frame = self.buf[..n].to_vec();
            let src_mac: [u8; 6] = mac_at(&frame, VNET_HDR + 6);
            if src_mac[0] & 1 == 0 {
                self.macs.insert(src_mac, port);
            }
            // Settings changed after the previous frame apply to this one.
            self.refresh();
            self.enter_stage(port, Direction::Egress, frame, Instant::now());
        }
        Ok(())
    }

    /// A frame enters a stage at `at`: decides its fate and schedules its departure.
    fn enter_stage(&mut self, port: usize, dir: Direction, frame: Vec<u8>, at: Instant) {
        let d = dir.index();
        let shared = Arc::clone(&self.shared);
        let counters = shared.counters(port, dir);
        if shared.is_down(port) {
            counters.down.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.events.len() >= MAX_IN_FLIGHT {
            counters.queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let step = match dir {
            Direction::Egress => Step::LeftEgress(port),
            Direction::Ingress => Step::LeftIngress(port),
        };
        let imp = &self.config[port][d];
        if !is_ip(&frame) || imp.is_none() {
            counters.unimpaired.fetch_add(1, Ordering::Relaxed);
            self.schedule(at, step, frame);
            return;
        }
        let len = (frame.len() - VNET_HDR) as u32;
        let stage = &mut self.stages[port][d];
        let leaves = match stage.judge(imp, at, len) {
            Verdict::Lost => {
                counters.lost.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Verdict::QueueFull => {
                counters.queue_full.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Verdict::Leaves(leaves) => leaves,
        };
        let hold = imp.reorder > 0.0 && self.held[port][d].is_none() && stage.rng.chance(imp.reorder);
        if leaves > at {
            counters.delayed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(held) = self.held[port][d].take() {
            // The held frame goes right behind this one (a larger sequence number breaks
            // the tie), or at its own time if that is later still.
            if held.at <= leaves {
                counters.reordered.fetch_add(1, Ordering::Relaxed);
            }
            self.schedule(leaves, step, frame);
            self.schedule(held.at.max(leaves), step, held.frame);
        } else if hold {
            self.held[port][d] = Some(Held { frame, at: leaves, deadline: leaves + REORDER_HOLD });
        } else {
            self.schedule(leaves, step, frame);
        }
    }

    fn schedule(&mut self, at: Instant, step: Step, frame: Vec<u8>) {
        self.seq += 1;
        self.events.push(Reverse(Event { at, seq: self.seq, step, frame }));
    }

    /// Held frames nobody overtook within the hold time go on alone.
    fn release_held(&mut self, now: Instant) {
        for port in 0..self.held.len() {
            for d in 0..2 {
                if self.held[port][d].as_ref().is_some_and(|h| h.deadline <= now)
                    && let Some(h) = self.held[port][d].take()
                {
                    let step = if d == 0 { Step::LeftEgress(port) } else { Step::LeftIngress(port) };
                    self.schedule(h.deadline, step, h.frame);
                }
            }
        }
    }

    /// Runs the departures that are due, at most a few batches' worth.
    fn run_due(&mut self, now: Instant) {
        for _ in 0..BATCH * 8 {
            match self.events.peek() {
                Some(Reverse(e)) if e.at <= now => {}
                _ => return,
            }
            let Some(Reverse(event)) = self.events.pop() else { return };
            match event.step {
                Step::LeftEgress(src) => self.switch(src, event.frame, event.at),
                Step::LeftIngress(dst) => self.deliver(dst, &event.frame),
            }
        }
    }

    /// A frame left its sender's egress stage: count it and send it to the port(s) its
    /// destination MAC names (all others for broadcast, multicast and unknown MACs).
    fn switch(&mut self, src: usize, frame: Vec<u8>, at: Instant) {
        let shared = Arc::clone(&self.shared);
        let counters = shared.counters(src, Direction::Egress);
        if shared.is_down(src) {
            counters.down.fetch_add(1, Ordering::Relaxed);
            return;
        }
        counters.count_forwarded(frame.len() - VNET_HDR);
        let dst_mac = mac_at(&frame, VNET_HDR);
        let known = if dst_mac[0] & 1 == 0 { self.macs.get(&dst_mac).copied() } else { None };
        match known {
            Some(dst) if dst == src => {}
            Some(dst) => self.enter_stage(dst, Direction::Ingress, frame, at),
            None => {
                for dst in (0..self.socks.len()).filter(|&d| d != src) {
                    self.enter_stage(dst, Direction::Ingress, frame.clone(), at);
                }
            }
        }
    }

    /// A frame left the receiver's ingress stage: send it out of the receiver's port.
    fn deliver(&mut self, dst: usize, frame: &[u8]) {
        let counters = self.shared.counters(dst, Direction::Ingress);
        if self.shared.is_down(dst) {
            counters.down.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let (fd, ifindex) = &self.socks[dst];
        // The frame's own EtherType, already in network byte order.
        let protocol = u16::from_ne_bytes([frame[VNET_HDR + 12], frame[VNET_HDR + 13]]);
        let addr = sockaddr_ll(*ifindex, protocol);
        // SAFETY: sends `frame` (pointer and length of a live slice) to a sockaddr_ll on
        // this stack frame, with its exact size.
        let rc = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
                (&raw const addr).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.count_forwarded(frame.len() - VNET_HDR);
        }
    }
}

fn stage_seed(seed: u64, port: u64, dir: u64) -> u64 {
    seed ^ (port << 1 | dir).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn mac_at(frame: &[u8], offset: usize) -> [u8; 6] {
    let mut mac = [0; 6];
    if let Some(bytes) = frame.get(offset..offset + 6) {
        mac.copy_from_slice(bytes);
    }
    mac
}

/// IPv4 and IPv6 are impaired; ARP and anything else pass untouched.
fn is_ip(frame: &[u8]) -> bool {
    matches!(frame.get(VNET_HDR + 12..VNET_HDR + 14), Some([0x08, 0x00] | [0x86, 0xdd]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ip_frames_count_as_ip() {
        let mut frame = vec![0u8; VNET_HDR + ETH_HDR + 20];
        frame[VNET_HDR + 12..VNET_HDR + 14].copy_from_slice(&[0x08, 0x00]);
        assert!(is_ip(&frame));
        frame[VNET_HDR + 12..VNET_HDR + 14].copy_from_slice(&[0x08, 0x06]);
        assert!(!is_ip(&frame), "ARP is not impaired");
        assert!(!is_ip(&frame[..5]));
    }

    #[test]
    fn stage_seeds_differ_per_port_and_direction() {
        let seeds: std::collections::BTreeSet<u64> =
            (0..8).flat_map(|p| (0..2).map(move |d| stage_seed(42, p, d))).collect();
        assert_eq!(seeds.len(), 16);
    }

    #[test]
    fn events_leave_in_time_order_then_in_arrival_order() {
        let t0 = Instant::now();
        let mut heap = BinaryHeap::new();
        for (seq, ms) in [(1, 30), (2, 10), (3, 10), (4, 0)] {
            heap.push(Reverse(Event {
                at: t0 + Duration::from_millis(ms),
                seq,
                step: Step::LeftEgress(0),
                frame: Vec::new(),
            }));
        }
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|Reverse(e)| e.seq)).collect();
        assert_eq!(order, [4, 2, 3, 1]);
    }
}

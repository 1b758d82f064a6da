//! The lab: namespaces, addresses, the bridge, and the handles tests use.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::bridge::{Bridge, PortSpec};
use crate::impair::{Direction, Impairment};
use crate::stats::LinkStats;
use crate::{Error, ns};

/// The most hosts one lab holds (one /24, addresses .1 to .250).
pub const MAX_HOSTS: usize = 250;

/// The interface each host has, besides `lo`.
const HOST_IF: &str = "eth0";

/// The seed a lab uses unless given another.
pub const DEFAULT_SEED: u64 = 0x5eed_0000_0000_1ab5;

/// Labs made by this process so far: part of each namespace's name, and its subnet.
static LABS: AtomicU32 = AtomicU32::new(0);

/// Collects the hosts of a lab; [`build`](Self::build) makes it.
#[derive(Debug, Clone)]
pub struct LabBuilder {
    hosts: Vec<String>,
    seed: u64,
    lifetime: Duration,
}

/// One host: its namespace, address and MAC.
#[derive(Debug)]
struct Host {
    name: String,
    netns: String,
    addr: Ipv4Addr,
    mac: [u8; 6],
}

/// Namespaces that exist, deleted (with whatever runs inside) when this is dropped.
#[derive(Debug, Default)]
struct Namespaces(Vec<String>);

impl Namespaces {
    fn delete_all(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        // Hosts first, the hub last: nothing in a host needs the hub to go.
        while let Some(netns) = self.0.pop() {
            if let Err(e) = ns::delete(&netns) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if let Err(e) = self.delete_all() {
            eprintln!("switchboard-netlab: tearing down a lab: {e}");
        }
    }
}

/// A running lab. Dropping it stops the bridge, kills every process still inside its
/// namespaces and deletes them; [`close`](Self::close) does the same and reports errors.
///
/// Methods that take a host name panic when the lab has no such host (a typo in a test);
/// their `try_` variants return [`Error::UnknownHost`] instead.
#[derive(Debug)]
pub struct Lab {
    // Declared before `namespaces`, so the bridge stops before its namespace goes.
    bridge: Bridge,
    hosts: Vec<Host>,
    hub: String,
    subnet: Ipv4Addr,
    namespaces: Namespaces,
}

impl Default for LabBuilder {
    fn default() -> Self {
        Self { hosts: Vec::new(), seed: DEFAULT_SEED, lifetime: Duration::from_secs(600) }
    }
}

impl LabBuilder {
    /// Adds a host: ASCII letters, digits, `_` and `-`, at most 32 characters, not `hub`.
    pub fn host(mut self, name: &str) -> Self {
        self.hosts.push(name.to_owned());
        self
    }

    /// The seed of every random draw (loss, jitter, reordering). The default is fixed, so
    /// a lab drops the same frames each run given the same traffic.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How long the bridge forwards at most (default 10 minutes), so a hung test cannot
    /// keep a thread busy forever. After it, no frame moves and [`Lab::check`] says why.
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::InvalidLab { reason });
        if self.hosts.is_empty() {
            return invalid("a lab needs at least one host".to_owned());
        }
        if self.hosts.len() > MAX_HOSTS {
            return invalid(format!("{} hosts, at most {MAX_HOSTS}", self.hosts.len()));
        }
        for (i, name) in self.hosts.iter().enumerate() {
            let valid = !name.is_empty()
                && name.len() <= 32
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return invalid(format!("host name `{name}`: use 1 to 32 ASCII letters, digits, `_` or `-`"));
            }
            if name == "hub" {
                return invalid("`hub` is the bridge's namespace, not a host name".to_owned());
            }
            if self.hosts[..i].contains(name) {
                return invalid(format!("host `{name}` is named twice"));
            }
        }
        Ok(())
    }

    /// Creates the namespaces, the veth pairs and addresses, and starts the bridge. On an
    /// error, whatever was created is deleted again.
    pub fn build(self) -> Result<Lab, Error> {
        self.validate()?;
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{}-{n}", ns::PREFIX, std::process::id());
        // 512 /24s in 198.18.0.0/15. Labs never share a link, so a repeat is harmless;
        // distinct subnets only make captures easier to read.
        let net = n % 512;
        let subnet = Ipv4Addr::new(198, 18 + (net / 256) as u8, (net % 256) as u8, 0);
        let [a, b, c, _] = subnet.octets();
        let hosts: Vec<Host> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, name)| Host {
                name: name.clone(),
                netns: format!("{id}-{name}"),
                addr: Ipv4Addr::new(a, b, c, (i + 1) as u8),
                mac: mac(0, i + 1),
            })
            .collect();
        let hub = format!("{id}-hub");
        let ports: Vec<PortSpec> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| PortSpec { ifname: format!("p{i}"), host_mac: h.mac })
            .collect();

        // From here on, whatever exists is deleted if a step fails.
        let mut namespaces = Namespaces::default();
        namespaces.0.push(hub.clone());
        namespaces.0.extend(hosts.iter().map(|h| h.netns.clone()));

        // 1. The namespaces and the veth pairs, created directly inside them, so no
        // interface of this lab ever appears in the machine's own namespace.
        let mut root = String::new();
        for netns in &namespaces.0 {
            let _ = writeln!(root, "netns add {netns}");
        }
        for (i, (host, port)) in hosts.iter().zip(&ports).enumerate() {
            let _ = writeln!(
                root,
                "link add {HOST_IF} address {} netns {} type veth peer name {} address {} netns {hub}",
                mac_text(host.mac),
                host.netns,
                port.ifname,
                mac_text(mac(1, i + 1)),
            );
        }
        ns::ip(&["-batch", "-"], Some(&root))?;

        // 2. Before any interface is up: no IPv6 (no router solicitations, DAD or MLD
        // frames on the links) and no offloads (frames on the links as on a wire).
        let port_names: Vec<&str> = ports.iter().map(|p| p.ifname.as_str()).collect();
        configure(&hub, &port_names)?;
        for host in &hosts {
            configure(&host.netns, &[HOST_IF])?;
        }

        // 3. Addresses, and every neighbour's MAC as a permanent entry: hosts never need
        // ARP, so ARP can neither be lost nor delay the first packet after an outage.
        let mut up = String::new();
        for port in &port_names {
            let _ = writeln!(up, "link set {port} up");
        }
        ns::ip(&["-netns", &hub, "-batch", "-"], Some(&up))?;
        for host in &hosts {
            let mut batch = format!("link set lo up\naddr add {}/24 dev {HOST_IF}\n", host.addr);
            for other in hosts.iter().filter(|o| o.name != host.name) {
                let _ = writeln!(
                    batch,
                    "neigh replace {} lladdr {} nud permanent dev {HOST_IF}",
                    other.addr,
                    mac_text(other.mac)
                );
            }
            let _ = writeln!(batch, "link set {HOST_IF} up");
            ns::ip(&["-netns", &host.netns, "-batch", "-"], Some(&batch))?;
        }

        // 4. The bridge, bound to every port before build returns.
        let bridge = Bridge::start(&hub, ports, self.seed, self.lifetime)?;
        Ok(Lab { bridge, hosts, hub, subnet, namespaces })
    }
}

/// IPv6 and offloads off in `netns`, for `interfaces`.
fn configure(netns: &str, interfaces: &[&str]) -> Result<(), Error> {
    ns::run_in(netns, || -> std::io::Result<()> {
        ns::disable_ipv6(interfaces)?;
        interfaces.iter().try_for_each(|i| ns::disable_offloads(i))
    })?
    .map_err(|source| Error::Netns {
        netns: netns.to_owned(),
        what: "turning off IPv6 and offloads",
        source,
    })
}

/// A locally administered MAC: `02:53:42:<side>:<n>`, side 0 for hosts and 1 for hub ports.
fn mac(side: u8, n: usize) -> [u8; 6] {
    [0x02, 0x53, 0x42, side, (n >> 8) as u8, n as u8]
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

impl Lab {
    /// Starts describing a lab.
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    fn find(&self, host: &str) -> Result<(usize, &Host), Error> {
        self.hosts.iter().enumerate().find(|(_, h)| h.name == host).ok_or_else(|| Error::UnknownHost {
            host: host.to_owned(),
            hosts: self.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    fn expect_host(&self, host: &str) -> (usize, &Host) {
        match self.find(host) {
            Ok(found) => found,
            Err(e) => panic!("{e}"),
        }
    }

    /// The hosts, in the order they were added.
    pub fn hosts(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }

    /// The lab's subnet (`/24`), in 198.18.0.0/15.
    pub fn subnet(&self) -> Ipv4Addr {
        self.subnet
    }

    /// A host's address on the lab's link.
    ///
    /// # Panics
    /// If the lab has no such host.
    pub fn addr(&self, host: &str) -> Ipv4Addr {
        self.expect_host(host).1.addr
    }

    /// A host's address, or [`Error::UnknownHost`].
    pub fn try_addr(&self, host: &str) -> Result<Ipv4Addr, Error> {
        Ok(self.find(host)?.1.addr)
    }

    /// The name of a host's network namespace, for `ip netns exec NAME ...` by hand.
    ///
    /// # Panics
    /// If the lab has no such host.
    pub fn netns(&self, host: &str) -> &str {
        &self.expect_host(host).1.netns
    }

    /// The name of the hub's namespace (where the bridge runs; it holds no addresses).
    pub fn hub_netns(&self) -> &str {
        &self.hub
    }

    /// A command that runs `program` inside a host's namespace (the child calls setns()
    /// before exec). Processes started from it that are still running when the lab goes
    /// are killed.
    ///
    /// Unlike `ip netns exec`, the child keeps the caller's mount namespace and /sys, which
    /// is all a Switchboard process needs.
    ///
    /// # Panics
    /// If the lab has no such host.
    pub fn command(&self, host: &str, program: impl AsRef<OsStr>) -> Command {
        match self.try_command(host, program) {
            Ok(command) => command,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`command`](Self::command), with errors returned.
    pub fn try_command(&self, host: &str, program: impl AsRef<OsStr>) -> Result<Command, Error> {
        let netns = &self.find(host)?.1.netns;
        let fd: OwnedFd = ns::open(netns)?.into();
        let mut command = Command::new(program);
        // SAFETY: the closure runs in the child between fork and exec. It only calls
        // setns() (a plain system call, async-signal-safe) on a descriptor the closure
        // owns, and on failure builds an io::Error from errno, which does not allocate.
        unsafe {
            command.pre_exec(move || ns::enter(fd.as_fd()));
        }
        Ok(command)
    }

    /// Runs `f` on a new thread inside a host's namespace and returns its result. Sockets
    /// `f` creates stay in that namespace whichever thread uses them afterwards:
    ///
    /// ```no_run
    /// # fn main() -> Result<(), switchboard_netlab::Error> {
    /// # let lab = switchboard_netlab::Lab::builder().host("bob").build()?;
    /// let socket = lab.run_in("bob", || std::net::UdpSocket::bind((lab.addr("bob"), 0)))?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_in<T: Send>(&self, host: &str, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
        let netns = &self.find(host)?.1.netns;
        ns::run_in(netns, f)
    }

    /// The handle of a host's link, to impair it or read its counters.
    ///
    /// # Panics
    /// If the lab has no such host.
    pub fn link(&self, host: &str) -> Link<'_> {
        let (port, _) = self.expect_host(host);
        Link { lab: self, port }
    }

    /// [`link`](Self::link), with errors returned.
    pub fn try_link(&self, host: &str) -> Result<Link<'_>, Error> {
        let (port, _) = self.find(host)?;
        Ok(Link { lab: self, port })
    }

    /// Whether the bridge still forwards: an error if its thread stopped or failed.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(message) = self.bridge.shared().failure() {
            return Err(Error::Bridge { message });
        }
        if !self.bridge.is_running() {
            return Err(Error::Bridge { message: "the bridge thread has exited".to_owned() });
        }
        Ok(())
    }

    /// Tears the lab down now, reporting the first error (Drop can only print it).
    pub fn close(mut self) -> Result<(), Error> {
        self.bridge.stop();
        self.namespaces.delete_all()
    }
}

/// One host's link to the hub. Settings take effect for frames the bridge reads after the
/// call returns; frames already in flight keep the fate they were given.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    lab: &'a Lab,
    port: usize,
}

impl Link<'_> {
    /// The host this link belongs to.
    pub fn host(&self) -> &str {
        &self.lab.hosts[self.port].name
    }

    /// Impairs both directions alike (each direction draws its own random numbers).
    pub fn set(&self, impairment: Impairment) -> Result<(), Error> {
        impairment.validate()?;
        for dir in Direction::BOTH {
            self.lab.bridge.shared().set(self.port, dir, impairment.clone());
        }
        Ok(())
    }

    /// Impairs one direction, leaving the other as it is.
    pub fn set_direction(&self, dir: Direction, impairment: Impairment) -> Result<(), Error> {
        impairment.validate()?;
        self.lab.bridge.shared().set(self.port, dir, impairment);
        Ok(())
    }

    /// Removes every impairment (does not bring a down link up).
    pub fn clear(&self) {
        for dir in Direction::BOTH {
            self.lab.bridge.shared().set(self.port, dir, Impairment::NONE);
        }
    }

    /// The impairment of one direction.
    pub fn impairment(&self, dir: Direction) -> Impairment {
        self.lab.bridge.shared().impairment(self.port, dir)
    }

    /// Cuts the link: every frame to or from the host is dropped, ARP included, and so are
    /// frames in flight when they reach it. The host's interface stays up (a dead path, not
    /// an unplugged cable), so its sends succeed and go nowhere.
    pub fn down(&self) {
        self.lab.bridge.shared().set_down(self.port, true);
    }

    /// Restores a cut link, with the impairments it had.
    pub fn up(&self) {
        self.lab.bridge.shared().set_down(self.port, false);
    }

    /// Whether the link is cut.
    pub fn is_down(&self) -> bool {
        self.lab.bridge.shared().is_down(self.port)
    }

    /// The link's counters.
    pub fn stats(&self) -> LinkStats {
        let shared = self.lab.bridge.shared();
        LinkStats {
            egress: shared.stats(self.port, Direction::Egress),
            ingress: shared.stats(self.port, Direction::Ingress),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_host_lists_are_refused_before_anything_is_created() {
        let refused = |b: LabBuilder| matches!(b.validate(), Err(Error::InvalidLab { .. }));
        assert!(refused(Lab::builder()));
        assert!(refused(Lab::builder().host("alice").host("alice")));
        assert!(refused(Lab::builder().host("hub")));
        assert!(refused(Lab::builder().host("a b")));
        assert!(refused(Lab::builder().host("")));
        assert!(refused(Lab::builder().host(&"x".repeat(33))));
        assert!(Lab::builder().host("alice").host("bob-2").host("server_1").validate().is_ok());
    }

    #[test]
    fn macs_are_local_and_distinct() {
        assert_eq!(mac_text(mac(0, 1)), "02:53:42:00:00:01");
        assert_eq!(mac_text(mac(1, 250)), "02:53:42:01:00:fa");
        assert_ne!(mac(0, 3), mac(1, 3));
    }
}

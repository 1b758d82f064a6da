//! Who may use the web UI: the access key of the run, and the `Host` and `Origin` rules.
//!
//! Any page the user's browser shows can open a WebSocket to 127.0.0.1 (the same-origin
//! policy does not cover WebSockets), and a DNS name an attacker controls can be made to
//! resolve to 127.0.0.1 (DNS rebinding). So every request is checked, before any route runs:
//! - `Host` must name this server: `localhost`, or a loopback address (any address when
//!   the server was opted in to listen beyond loopback), with the server's port. A DNS
//!   name other than `localhost` is refused, which is what stops DNS rebinding;
//! - `Origin`, when present, must be the origin of that same host (`http://` + `Host`):
//!   browsers send it on every WebSocket handshake, so a page of another site is refused
//!   even if it has the key. A client without one (not a browser) needs the key alone;
//! - every path but the static assets (which carry no call data) needs `?key=KEY`, the
//!   random key of this server, compared in constant time.
//!
//! A refused request gets a plain 403 and nothing else.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::{HeaderMap, Uri, header};
use subtle::ConstantTimeEq;

/// Random bytes in an access key: 192 bits, as many as a Jupyter server's token.
const KEY_BYTES: usize = 24;

/// The paths served without the key: the page's script and style sheet, the same for every
/// run and embedded in the binary, with nothing of the call in them.
const PUBLIC_PATHS: [&str; 2] = ["/app.js", "/style.css"];

/// The query parameter that carries the key, on the page's URL and on `/ws`.
pub(crate) const KEY_PARAM: &str = "key";

/// The secret of one server: [`KEY_BYTES`] random bytes as lowercase hex, safe in a URL
/// as it is. Its `Debug` does not show it.
pub(crate) struct AccessKey(String);

impl AccessKey {
    /// A new key from the operating system's random source.
    pub(crate) fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; KEY_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut key = String::with_capacity(bytes.len() * 2);
        for byte in bytes {
            key.push(char::from(HEX[usize::from(byte >> 4)]));
            key.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Self(key)
    }

    /// The key, for the URL.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the key, in time that does not depend on where they differ
    /// (the length is no secret: every key has the same).
    fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(..)")
    }
}

/// Why a request was refused. Logged; the client only sees a 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `Host`, more than one, or one that does not name this server.
    Host,
    /// An `Origin` other than this server's own, or more than one.
    Origin,
    /// A path that needs the key, without it or with another one.
    Key,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Host => "its Host does not name this server",
            Self::Origin => "its Origin is not this server's",
            Self::Key => "it lacks the access key",
        })
    }
}

/// Checks every request against the rules of the module doc.
#[derive(Debug)]
pub(crate) struct Guard {
    key: AccessKey,
    port: u16,
    remote: bool,
}

impl Guard {
    /// A guard for a server on `port`. With `remote` (the server listens beyond loopback,
    /// opted in), `Host` may be any IP address as well: an address literal cannot be
    /// rebound, only a DNS name can.
    pub(crate) fn new(key: AccessKey, port: u16, remote: bool) -> Self {
        Self { key, port, remote }
    }

    /// The key, for the URL.
    pub(crate) fn key(&self) -> &str {
        self.key.as_str()
    }

    /// Whether the request of `uri` with `headers` may be served.
    pub(crate) fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = single(headers, &header::HOST).ok_or(Refusal::Host)?;
        if !self.host_allowed(host) {
            return Err(Refusal::Host);
        }
        // An absolute-form request line (`GET http://HOST/ HTTP/1.1`) names a host too; it
        // must be the same one.
        if uri.authority().is_some_and(|authority| !authority.as_str().eq_ignore_ascii_case(host)) {
            return Err(Refusal::Host);
        }
        match headers.get_all(header::ORIGIN).iter().count() {
            0 => {}
            1 => {
                let origin = single(headers, &header::ORIGIN).ok_or(Refusal::Origin)?;
                if !same_origin(origin, host) {
                    return Err(Refusal::Origin);
                }
            }
            _ => return Err(Refusal::Origin),
        }
        if PUBLIC_PATHS.contains(&uri.path()) {
            return Ok(());
        }
        match query_value(uri.query(), KEY_PARAM) {
            Some(candidate) if self.key.matches(candidate) => Ok(()),
            _ => Err(Refusal::Key),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let Some((name, port)) = split_host(host) else { return false };
        // A browser leaves the port out of `Host` when it is the scheme's default.
        if port.unwrap_or(80) != self.port {
            return false;
        }
        match name {
            HostName::Localhost => true,
            HostName::Ip(ip) => is_loopback(ip) || self.remote,
            HostName::Other => false,
        }
    }
}

/// Whether `ip` is a loopback address (127.0.0.0/8 or ::1, also as an IPv4-mapped IPv6
/// address).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The address to put in a URL for a server bound to `addr`: the unspecified address is
/// not one to browse to, so a server on all interfaces is shown at loopback.
pub(crate) fn url_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    }
}

/// The one value of header `name` as text; `None` when it is absent, repeated or not text.
fn single<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// Whether `origin` is `http://` followed by `host`: the origin of a page this server
/// served at that host. `null` (a sandboxed frame, a file) and `https` are not.
fn same_origin(origin: &str, host: &str) -> bool {
    let scheme = "http://";
    origin.len() == scheme.len() + host.len()
        && origin.is_char_boundary(scheme.len())
        && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
        && origin[scheme.len()..].eq_ignore_ascii_case(host)
}

#[derive(Debug, PartialEq, Eq)]
enum HostName {
    Localhost,
    Ip(IpAddr),
    Other,
}

/// Splits a `Host` value into its name and port: `name`, `name:port`, `[v6]` or
/// `[v6]:port`. `None` when it is not one of these.
fn split_host(host: &str) -> Option<(HostName, Option<u16>)> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ip = v6.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (HostName::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let name = if name.eq_ignore_ascii_case("localhost") {
            HostName::Localhost
        } else if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
            HostName::Ip(IpAddr::V4(ip))
        } else if name.is_empty() {
            return None;
        } else {
            HostName::Other
        };
        (name, port)
    };
    let port = match port {
        None => None,
        // Digits only: `u16::from_str` would take a leading `+` too.
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((name, port))
}

/// The value of the first `name=value` pair of `query`, as it is (a key is hex and needs
/// no decoding).
fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| pair.split_once('=').filter(|(n, _)| *n == name).map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const PORT: u16 = 7800;

    fn guard(remote: bool) -> Guard {
        Guard::new(AccessKey::from_bytes(&[0xab; KEY_BYTES]), PORT, remote)
    }

    fn key() -> String {
        "ab".repeat(KEY_BYTES)
    }

    fn check(guard: &Guard, target: &str, headers: &[(&str, &str)]) -> Result<(), Refusal> {
        let uri: Uri = target.parse().expect("a request target");
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name: header::HeaderName = name.parse().expect("a header name");
            map.append(name, HeaderValue::from_str(value).expect("a header value"));
        }
        guard.check(&uri, &map)
    }

    #[test]
    fn keys_are_192_random_bits_in_url_safe_hex() {
        let a = AccessKey::generate().expect("a key");
        let b = AccessKey::generate().expect("a key");
        assert_eq!(a.as_str().len(), 48);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{}", a.0);
        assert_ne!(a.as_str(), b.as_str(), "two servers, two keys");
        assert_eq!(format!("{a:?}"), "AccessKey(..)", "Debug hides the key");
        assert_eq!(AccessKey::from_bytes(&[0x01, 0xfe]).as_str(), "01fe");
    }

    #[test]
    fn the_key_matches_only_itself() {
        let key = AccessKey::from_bytes(&[0x5a; 4]);
        assert!(key.matches("5a5a5a5a"));
        for wrong in ["5a5a5a5b", "5a5a5a5", "5a5a5a5a5a", "", "5A5A5A5A"] {
            assert!(!key.matches(wrong), "{wrong:?} matched");
        }
    }

    #[test]
    fn the_page_and_socket_need_the_key_and_the_assets_do_not() {
        let g = guard(false);
        let host = [("host", "127.0.0.1:7800")];
        let with_key = format!("/?key={}", key());
        assert_eq!(check(&g, &with_key, &host), Ok(()));
        assert_eq!(check(&g, &format!("/ws?key={}", key()), &host), Ok(()));
        assert_eq!(check(&g, &format!("/ws?x=1&key={}&y=2", key()), &host), Ok(()));
        assert_eq!(check(&g, "/app.js", &host), Ok(()));
        assert_eq!(check(&g, "/style.css", &host), Ok(()));
        let wrong = "cd".repeat(KEY_BYTES);
        for target in [
            "/".to_owned(),
            "/ws".to_owned(),
            "/?key=".to_owned(),
            format!("/?key={wrong}"),
            format!("/ws?key={}", &key()[..47]),
            format!("/?token={}", key()),
            format!("/?key={}", key().to_uppercase()),
            // Only the first key counts.
            format!("/?key={wrong}&key={}", key()),
            // Any other path needs the key too.
            "/favicon.ico".to_owned(),
            "/app.js/".to_owned(),
        ] {
            assert_eq!(check(&g, &target, &host), Err(Refusal::Key), "{target}");
        }
    }

    #[test]
    fn host_must_be_a_loopback_name_with_this_port() {
        let g = guard(false);
        let target = format!("/?key={}", key());
        for host in ["127.0.0.1:7800", "localhost:7800", "LocalHost:7800", "[::1]:7800", "127.0.0.2:7800"] {
            assert_eq!(check(&g, &target, &[("host", host)]), Ok(()), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:7800",
            "localhost.evil.example:7800",
            "127.0.0.1.nip.io:7800",
            "localhost.:7800",
            "127.0.0.1:7801",
            "127.0.0.1",
            "127.0.0.1:+7800",
            "127.0.0.1:",
            "127.1:7800",
            "0x7f000001:7800",
            "[::1]7800",
            "::1:7800",
            "192.0.2.10:7800",
            "0.0.0.0:7800",
            "[::ffff:192.0.2.10]:7800",
            ":7800",
            "",
        ] {
            assert_eq!(check(&g, &target, &[("host", host)]), Err(Refusal::Host), "{host:?}");
        }
        assert_eq!(check(&g, &target, &[]), Err(Refusal::Host), "no Host");
        let twice = [("host", "127.0.0.1:7800"), ("host", "127.0.0.1:7800")];
        assert_eq!(check(&g, &target, &twice), Err(Refusal::Host), "two Hosts");
        let absolute = format!("http://evil.example:7800/?key={}", key());
        assert_eq!(check(&g, &absolute, &[("host", "127.0.0.1:7800")]), Err(Refusal::Host));
        let absolute = format!("http://127.0.0.1:7800/?key={}", key());
        assert_eq!(check(&g, &absolute, &[("host", "127.0.0.1:7800")]), Ok(()));
        // The port a browser leaves out is 80.
        let on_80 = Guard::new(AccessKey::from_bytes(&[0xab; KEY_BYTES]), 80, false);
        assert_eq!(check(&on_80, &target, &[("host", "localhost")]), Ok(()));
    }

    #[test]
    fn a_remote_server_takes_ip_addresses_but_still_no_dns_names() {
        let g = guard(true);
        let target = format!("/?key={}", key());
        for host in ["192.0.2.10:7800", "[2001:db8::1]:7800", "127.0.0.1:7800", "localhost:7800"] {
            assert_eq!(check(&g, &target, &[("host", host)]), Ok(()), "{host}");
        }
        for host in ["evil.example:7800", "myhost.lan:7800", "192.0.2.10:7801"] {
            assert_eq!(check(&g, &target, &[("host", host)]), Err(Refusal::Host), "{host}");
        }
        assert_eq!(check(&g, "/", &[("host", "192.0.2.10:7800")]), Err(Refusal::Key));
    }

    #[test]
    fn origin_must_be_the_origin_of_the_host() {
        let g = guard(false);
        let target = format!("/ws?key={}", key());
        let ok = |host: &str, origin: &str| check(&g, &target, &[("host", host), ("origin", origin)]);
        assert_eq!(ok("127.0.0.1:7800", "http://127.0.0.1:7800"), Ok(()));
        assert_eq!(ok("localhost:7800", "http://localhost:7800"), Ok(()));
        assert_eq!(ok("[::1]:7800", "HTTP://[::1]:7800"), Ok(()));
        for origin in [
            "http://evil.example",
            "http://evil.example:7800",
            "null",
            "https://127.0.0.1:7800",
            "http://127.0.0.1:7801",
            "http://127.0.0.1",
            "http://localhost:7800",
            "http://127.0.0.1:7800/",
            "http://127.0.0.1:7800.evil.example",
            "",
        ] {
            assert_eq!(ok("127.0.0.1:7800", origin), Err(Refusal::Origin), "{origin:?}");
        }
        let twice = [("host", "127.0.0.1:7800"), ("origin", "http://127.0.0.1:7800"), ("origin", "null")];
        assert_eq!(check(&g, &target, &twice), Err(Refusal::Origin), "two Origins");
        // The static assets too: a foreign origin gets nothing at all.
        let asset = [("host", "127.0.0.1:7800"), ("origin", "http://evil.example")];
        assert_eq!(check(&g, "/app.js", &asset), Err(Refusal::Origin));
    }

    #[test]
    fn unspecified_addresses_are_shown_at_loopback() {
        let shown = |addr: &str| url_addr(addr.parse().expect("an address")).to_string();
        assert_eq!(shown("0.0.0.0:7800"), "127.0.0.1:7800");
        assert_eq!(shown("[::]:7800"), "[::1]:7800");
        assert_eq!(shown("192.0.2.10:7800"), "192.0.2.10:7800");
        assert_eq!(shown("127.0.0.1:0"), "127.0.0.1:0");
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("an address")));
        assert!(!is_loopback("0.0.0.0".parse().expect("an address")));
    }
}

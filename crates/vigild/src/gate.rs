//! Who may ask what: HTTP basic authentication from the auth file (TCP listeners), read-only
//! users, and the refusal of cross-site requests that would change something (every listener).
//!
//! The auth file holds one `USER:PASSWORD` a line; the password may be `{SHA}` and the hex
//! SHA-1 of the password, as supervisord's configuration allows; a line ending in `:ro` makes
//! its user read-only. The file must not be readable by group or others.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha1::{Digest, Sha1};

use crate::api::error;
use crate::xmlrpc::codec;

/// How long a failed authentication waits before its 401: guessing is slow.
const FAIL_DELAY: Duration = Duration::from_millis(500);
/// The largest request body the gate reads to see whether an XML-RPC call changes something.
const MAX_BODY: usize = codec::MAX_BODY;

/// One user of the auth file.
#[derive(Debug, Clone)]
struct User {
    name: Vec<u8>,
    /// The SHA-1 of the password (a plain password is hashed when read): every check then
    /// compares 20 bytes, in constant time.
    sha1: [u8; 20],
    read_only: bool,
}

/// The users of an auth file.
#[derive(Debug, Clone, Default)]
pub struct Users(Vec<User>);

/// What the gate learned of a request, for the handlers (`/v1/whoami`).
#[derive(Debug, Clone)]
pub struct Access {
    /// The authenticated user, if the listener asks for one.
    pub user: Option<String>,
    /// Whether this user may only read.
    pub read_only: bool,
}

fn sha1(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

fn hex20(text: &str) -> Option<[u8; 20]> {
    let text = text.trim();
    if text.len() != 40 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Compares two digests without an early exit.
fn same(a: &[u8; 20], b: &[u8; 20]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Users {
    /// Reads `path`: refused when group or others may read it, or when a line is not
    /// `USER:PASSWORD[:ro]`. The error says why, in words for `vigild: fatal: ...`.
    pub fn read(path: &Path) -> Result<Users, String> {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("unable to read {}: {e}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "auth file {} is readable by group or others: chmod 600 it",
                path.display()
            ));
        }
        if meta.len() > 1 << 20 {
            return Err(format!("auth file {} is too big", path.display()));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("unable to read {}: {e}", path.display()))?;
        Users::parse(&text).map_err(|line| {
            format!(
                "auth file {}: line {line}: not USER:PASSWORD[:ro]",
                path.display()
            )
        })
    }

    /// Parses the file's text; `Err` is the number of the first bad line.
    pub fn parse(text: &str) -> Result<Users, usize> {
        let mut users = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (line, read_only) = match line.strip_suffix(":ro") {
                Some(rest) => (rest, true),
                None => (line, false),
            };
            let Some((name, password)) = line.split_once(':') else {
                return Err(i + 1);
            };
            if name.is_empty() {
                return Err(i + 1);
            }
            let sha1 = match password.strip_prefix("{SHA}") {
                Some(hex) => hex20(hex).ok_or(i + 1)?,
                None => sha1(password.as_bytes()),
            };
            users.push(User {
                name: name.as_bytes().to_vec(),
                sha1,
                read_only,
            });
        }
        Ok(Users(users))
    }

    /// The user that `Authorization: Basic ...` names with the right password.
    fn check(&self, headers: &HeaderMap) -> Option<&User> {
        let value = headers.get(header::AUTHORIZATION)?.as_bytes();
        let encoded = value
            .strip_prefix(b"Basic ")
            .or_else(|| value.strip_prefix(b"basic "))?;
        let decoded = codec::base64_decode(encoded)?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        let (name, password) = (&decoded[..colon], &decoded[colon + 1..]);
        let given = sha1(password);
        // Every user is compared, so the time does not tell which names exist.
        let mut found = None;
        for user in &self.0 {
            let ok = same(&user.sha1, &given) & (user.name == name);
            if ok && found.is_none() {
                found = Some(user);
            }
        }
        found
    }
}

/// The gate of one listener.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Users to authenticate; `None`: no authentication (unix sockets, `--no-auth`).
    pub users: Option<Arc<Users>>,
    /// `--read-only`: nobody changes anything.
    pub read_only: bool,
    /// The TCP address, for the origin check (`None` on a unix socket).
    pub tcp: Option<SocketAddr>,
    /// How long a client may take to send a request body (`--client-timeout`).
    pub client_timeout: Duration,
}

fn unauthorized() -> Response {
    let mut reply = error(StatusCode::UNAUTHORIZED, "authentication required");
    reply.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"vigil\""),
    );
    reply
}

/// Whether a browser sent this request from another site: `Sec-Fetch-Site` says so, or an
/// `Origin` that is not this listener's (scheme, host and port). No `Origin`: not a browser's
/// cross-site request (curl, scripts, supervisorctl), so it passes.
fn cross_site(gate: &Gate, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() == b"cross-site" || site.as_bytes() == b"same-site" {
            return true;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let Some(hostport) = origin.strip_prefix("http://") else {
        return true;
    };
    match gate.tcp {
        Some(addr) => same_listener(hostport, addr, headers),
        None => {
            // A unix socket has no origin of its own: only the Host the client named.
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            host != Some(hostport)
        }
    }
}

/// Whether `hostport` (from an Origin) is not `addr`: the port must be the listener's, the
/// host its address, `localhost` for a loopback one, or the Host the request was sent to.
fn same_listener(hostport: &str, addr: SocketAddr, headers: &HeaderMap) -> bool {
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return true;
    };
    if port.parse::<u16>().ok() != Some(addr.port()) {
        return true;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = addr.ip();
    let named = host.parse::<std::net::IpAddr>().ok();
    let loopback_name =
        host.eq_ignore_ascii_case("localhost") || named.is_some_and(|n| n.is_loopback());
    let ours = named == Some(ip)
        || (ip.is_loopback() && loopback_name)
        || (ip.is_unspecified() && loopback_name)
        || headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.eq_ignore_ascii_case(hostport) && !ip.is_loopback());
    !ours
}

/// Whether the request would change a service: a POST under /v1, or an XML-RPC call that does.
fn changes(method: &Method, path: &str, body: &[u8]) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return false;
    }
    if path == "/RPC2" {
        return codec::decode_call(body).is_ok_and(|call| crate::xmlrpc::changes(&call));
    }
    true
}

/// The middleware: authenticates, refuses cross-site and read-only changes, and hands the
/// handlers an [`Access`].
pub async fn check(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let mut access = Access {
        user: None,
        read_only: gate.read_only,
    };
    if let Some(users) = &gate.users {
        match users.check(&parts.headers) {
            Some(user) => {
                access.user = Some(String::from_utf8_lossy(&user.name).into_owned());
                access.read_only |= user.read_only;
            }
            None => {
                tokio::time::sleep(FAIL_DELAY).await;
                return unauthorized();
            }
        }
    }
    let mutating = parts.method != Method::GET && parts.method != Method::HEAD;
    if mutating && cross_site(&gate, &parts.headers) {
        return error(StatusCode::FORBIDDEN, "cross-site request refused");
    }
    let body = if mutating {
        // Every body is read here, whole, within the client timeout and the size limit: a
        // client that trickles its body holds no handler, and none reads an unbounded body.
        let bytes = match tokio::time::timeout(gate.client_timeout, to_bytes(body, MAX_BODY)).await
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) => return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            Err(_) => return error(StatusCode::REQUEST_TIMEOUT, "request body too slow"),
        };
        if access.read_only && !gate.read_only && changes(&parts.method, parts.uri.path(), &bytes) {
            return error(
                StatusCode::FORBIDDEN,
                "read-only user: this request would change a service",
            );
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(access);
    next.run(Request::from_parts(parts, body))
        .await
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let raw = format!("{user}:{password}");
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in raw.as_bytes().chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b))
                << (8 * (3 - chunk.len()));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(table[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {out}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn auth_file_lines_plain_sha_and_read_only() {
        // {SHA} of "secret".
        let users = Users::parse(
            "# admins\nalice:wonder:land\nbob:{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4\neve:peek:ro\n",
        )
        .unwrap();
        let alice = users.check(&basic("alice", "wonder:land")).expect("alice");
        assert!(!alice.read_only);
        assert!(users.check(&basic("bob", "secret")).is_some());
        assert!(users
            .check(&basic("eve", "peek"))
            .is_some_and(|u| u.read_only));
        assert!(users.check(&basic("bob", "Secret")).is_none());
        assert!(users.check(&basic("mallory", "secret")).is_none());
        assert!(users.check(&HeaderMap::new()).is_none());
        assert_eq!(Users::parse("nocolon\n").unwrap_err(), 1);
        assert_eq!(Users::parse("ok:1\nbad:{SHA}xyz\n").unwrap_err(), 2);
    }

    #[test]
    fn origins_match_in_all_spellings_and_nothing_else() {
        let gate = Gate {
            users: None,
            read_only: false,
            tcp: Some("127.0.0.1:8080".parse().unwrap()),
            client_timeout: Duration::from_secs(1),
        };
        let with = |origin: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ORIGIN, origin.parse().unwrap());
            h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
            cross_site(&gate, &h)
        };
        assert!(!with("http://127.0.0.1:8080"));
        assert!(!with("http://localhost:8080"));
        assert!(with("http://127.0.0.1:8081"));
        assert!(with("http://evil.example:8080"));
        assert!(with("https://127.0.0.1:8080"));
        assert!(with("null"));
        assert!(!cross_site(&gate, &HeaderMap::new()));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_site(&gate, &h));
    }

    proptest::proptest! {
        /// Any Authorization header and any auth file text: an answer, never a panic.
        #[test]
        fn any_header_or_auth_file_is_answered(
            header in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            file in ".{0,200}",
            origin in ".{0,60}",
        ) {
            let users = Users::parse("a:b\nc:{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4:ro\n").unwrap();
            let mut h = HeaderMap::new();
            if let Ok(v) = header::HeaderValue::from_bytes(&header) {
                h.insert(header::AUTHORIZATION, v);
            }
            let mut basic = b"Basic ".to_vec();
            basic.extend_from_slice(&header);
            if let Ok(v) = header::HeaderValue::from_bytes(&basic) {
                h.insert(header::AUTHORIZATION, v);
            }
            let _ = users.check(&h);
            let _ = Users::parse(&file);
            if let Ok(v) = header::HeaderValue::from_str(&origin) {
                h.insert(header::ORIGIN, v);
            }
            for tcp in [None, Some("127.0.0.1:80".parse().unwrap()), Some("0.0.0.0:80".parse().unwrap())] {
                let gate = Gate { users: None, read_only: false, tcp, client_timeout: Duration::from_secs(1) };
                let _ = cross_site(&gate, &h);
            }
        }
    }
}

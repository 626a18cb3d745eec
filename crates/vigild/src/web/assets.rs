//! The page's files, embedded from `crates/vigild/assets/` at compile time.

/// One embedded file.
pub struct Asset {
    /// Its name under `/assets/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub mime: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// FNV-1a 64 of its bytes, computed at compile time: the ETag.
    pub hash: u64,
}

impl Asset {
    /// The strong ETag: the hash in hex, quoted.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        Asset {
            name: $name,
            mime: $mime,
            body: include_bytes!(concat!("../../assets/", $name)),
            hash: fnv1a(include_bytes!(concat!("../../assets/", $name))),
        }
    };
}

/// The HTML of both routes.
pub static INDEX: &Asset = &asset!("index.html", "text/html; charset=utf-8");

/// Every file under `/assets/`.
pub static ASSETS: &[Asset] = &[
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("model.js", "text/javascript; charset=utf-8"),
    asset!("stream.js", "text/javascript; charset=utf-8"),
    asset!("ui.js", "text/javascript; charset=utf-8"),
    asset!("overview.js", "text/javascript; charset=utf-8"),
    asset!("service.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

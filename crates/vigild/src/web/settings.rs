//! `GET /v1/services/{name}/settings`: what a service's page shows of its limits and
//! readiness, read from the service directory's files as supervise reads them (through
//! [`vigil_proto::bounded`]: regular files only, no symbolic link, at most 4 KiB, never
//! blocking), each given as its first line, trimmed, as written; supervise decides what it
//! means (docs/limits.md, docs/events.md "Readiness").

use std::path::Path;

use serde_json::{json, Map, Value};
use vigil_proto::bounded::{self, Links, SETTING_MAX};

/// The limit files (docs/limits.md), in the order the page lists them.
const LIMIT_FILES: [&str; 6] = [
    "max-memory",
    "max-cpu",
    "max-files",
    "max-threads",
    "on-limit",
    "limit-interval",
];

/// The first line of a setting file, trimmed; None when absent, empty or unreadable.
fn first_line(dir: &Path, file: &str) -> Option<String> {
    let mut buf = [0u8; SETTING_MAX];
    let bytes = bounded::read(&dir.join(file), Links::Refuse, &mut buf).ok()??;
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Whether a file of the directory exists (as a file, not through a symbolic link).
fn exists(dir: &Path, file: &str) -> bool {
    std::fs::symlink_metadata(dir.join(file)).is_ok_and(|m| m.is_file())
}

/// The settings of the service directory `dir`, as the JSON object the page reads:
/// `{"readiness": "notification-fd 3" | "notify-socket" | null, "normally": "up" | "down",
/// "timeout-kill": "5000" | null, "limits": {"max-memory": "2G" | null, ...}}`.
pub fn read(dir: &Path) -> Value {
    let readiness = match first_line(dir, "notification-fd") {
        Some(fd) => Some(format!("notification-fd {fd}")),
        None if exists(dir, "notify-socket") => Some("notify-socket".to_string()),
        None => None,
    };
    let mut limits = Map::new();
    for file in LIMIT_FILES {
        limits.insert(file.to_string(), json!(first_line(dir, file)));
    }
    json!({
        "readiness": readiness,
        "normally": if exists(dir, "down") { "down" } else { "up" },
        "timeout-kill": first_line(dir, "timeout-kill"),
        "limits": limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_first_lines_and_absent_files_as_null() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("max-memory"), " 2G \nignored\n").expect("write");
        std::fs::write(d.join("on-limit"), "signal USR1\n").expect("write");
        std::fs::write(d.join("notification-fd"), "3\n").expect("write");
        std::fs::write(d.join("down"), "").expect("write");
        let v = read(d);
        assert_eq!(v["limits"]["max-memory"], "2G");
        assert_eq!(v["limits"]["on-limit"], "signal USR1");
        assert_eq!(v["limits"]["max-cpu"], Value::Null);
        assert_eq!(v["readiness"], "notification-fd 3");
        assert_eq!(v["normally"], "down");
        assert_eq!(v["timeout-kill"], Value::Null);
    }

    #[test]
    fn a_link_or_a_fifo_is_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::os::unix::fs::symlink("/etc/passwd", d.join("max-memory")).expect("symlink");
        nix::unistd::mkfifo(&d.join("max-cpu"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        std::fs::write(d.join("notify-socket"), "").expect("write");
        let v = read(d);
        assert_eq!(v["limits"]["max-memory"], Value::Null);
        assert_eq!(v["limits"]["max-cpu"], Value::Null);
        assert_eq!(v["readiness"], "notify-socket");
        assert_eq!(v["normally"], "up");
    }
}

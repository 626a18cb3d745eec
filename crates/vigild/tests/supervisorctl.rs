//! Debian 12's unchanged supervisorctl (4.2.5, from the extracted .deb in /opt/supervisor, run
//! by /usr/bin/python3) drives vigild over its unix socket and over TCP with -u/-p; every
//! command prints what it prints against the real supervisord (same package) running the
//! same programs, with the same exit code. Where vigil differs on purpose (clear, fg,
//! shutdown, reload, maintail) the test asserts vigild's explanation instead.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{bin, free_port, script, Guard};

/// Where .ci/run extracts Debian's supervisor package (VIGIL_SUPERVISOR overrides).
fn supervisor_root() -> Option<PathBuf> {
    let root = PathBuf::from(
        std::env::var_os("VIGIL_SUPERVISOR").unwrap_or_else(|| "/opt/supervisor".into()),
    );
    if root.join("usr/bin/supervisorctl").exists() {
        return Some(root);
    }
    let why = format!(
        "supervisor's package is not extracted in {} (.ci/run does it)",
        root.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// One supervisorctl run: its output and exit code.
struct Ctl {
    root: PathBuf,
    args: Vec<String>,
}

impl Ctl {
    /// supervisorctl on the unix socket `sock`, and on TCP `port` with `-u user -p secret`.
    fn both(root: &Path, sock: &Path, port: u16) -> (Ctl, Ctl) {
        let ctl = |args: Vec<String>| Ctl {
            root: root.into(),
            args,
        };
        let unix = ctl(vec!["-s".into(), format!("unix://{}", sock.display())]);
        let tcp = ctl([
            "-s",
            &format!("http://127.0.0.1:{port}"),
            "-u",
            "user",
            "-p",
            "secret",
        ]
        .map(String::from)
        .to_vec());
        (unix, tcp)
    }

    fn run(&self, command: &str, stdin: &str) -> (String, i32) {
        let mut child = Command::new("/usr/bin/python3")
            .arg(self.root.join("usr/bin/supervisorctl"))
            .args(&self.args)
            .args(command.split_whitespace())
            .env(
                "PYTHONPATH",
                self.root.join("usr/lib/python3/dist-packages"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        let text = rx.recv_timeout(Duration::from_secs(30));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let text =
            text.unwrap_or_else(|_| panic!("supervisorctl {command} did not finish in 30 s"));
        (text, status.code().unwrap_or(-1))
    }

    /// Runs `command` until its output holds `want` lines or `marker`, then stops it:
    /// `tail -f` never ends, `fg` may hang in its reader thread once it has answered.
    fn run_until(&self, command: &str, stdin: &str, want: usize, marker: &str) -> String {
        let mut child = Command::new("/usr/bin/python3")
            .arg(self.root.join("usr/bin/supervisorctl"))
            .args(&self.args)
            .args(command.split_whitespace())
            .env(
                "PYTHONPATH",
                self.root.join("usr/lib/python3/dist-packages"),
            )
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut text = String::new();
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                if tx.send(text.clone()).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = String::new();
        while seen.lines().count() < want && (marker.is_empty() || !seen.contains(marker)) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(text) => seen = text,
                Err(_) => break,
            }
        }
        drop(input);
        let _ = child.kill();
        let _ = child.wait();
        seen
    }
}

/// Every run of digits becomes `N` (pids, uptimes, dates), so two servers' answers compare.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

/// Waits (bounded) until `status NAMES` shows them all RUNNING.
fn wait_running(ctl: &Ctl, names: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (out, code) = ctl.run(&format!("status {names}"), "");
        if code == 0 && !out.contains("STARTING") {
            return;
        }
        assert!(Instant::now() < deadline, "{names} not RUNNING: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const WEB: &str = "echo hello web\nexec sleep 1000";
const FLAP: &str = "echo flapping\nexit 1";

/// The commands compared, in order: each a command line and whether stdin gets a line.
const COMPARED: &[&str] = &[
    "status",
    "status web",
    "status nope",
    "status web idle",
    "pid",
    "pid web",
    "pid idle",
    "pid nope",
    "avail",
    "reread",
    "update",
    "tail web",
    "tail -100 web",
    "tail -5 web",
    "tail nope",
    "start idle",
    "start idle",
    "status idle",
    "stop idle",
    "stop idle",
    "restart web",
    "signal WINCH web",
    "signal WINCH all",
    "signal BOGUS web",
    "stop nope",
    "start web:*",
    "stop web:log",
    "start web:log",
    "status",
    "stop all",
    // flap fails: supervisord gives up (FATAL), vigil keeps trying (BACKOFF), so nothing
    // about flap is compared after this.
    "start all",
];

struct Transcript(Vec<(String, String, i32)>);

fn transcript(ctl: &Ctl) -> Transcript {
    let mut lines = Vec::new();
    for command in COMPARED {
        let (out, code) = ctl.run(command, "");
        let mut out = normalize(&out);
        if command.starts_with("start all") || command.starts_with("stop all") {
            // supervisord lists each process as its wait ends, in no fixed order.
            let mut sorted: Vec<&str> = out.lines().collect();
            sorted.sort();
            out = sorted.join("\n");
        }
        lines.push((command.to_string(), out, code));
    }
    let (out, code) = ctl.run("version", "");
    lines.push((
        "version".into(),
        if code == 0 && !out.trim().is_empty() {
            "VERSION".into()
        } else {
            out
        },
        code,
    ));
    let tail = ctl.run_until("tail -f web", "", 2, "");
    let tail: Vec<&str> = tail.lines().take(2).collect();
    lines.push(("tail -f web".into(), normalize(&tail.join("\n")), 0));
    Transcript(lines)
}

fn compare(ours: &Transcript, theirs: &Transcript, how: &str) {
    let mut diffs = String::new();
    for ((cmd, out, code), (_, want, want_code)) in ours.0.iter().zip(&theirs.0) {
        if out != want || code != want_code {
            diffs.push_str(&format!(
                "--- supervisorctl {cmd} ({how})\nvigild (exit {code}):\n{out}\nsupervisord (exit {want_code}):\n{want}\n"
            ));
        }
    }
    assert!(diffs.is_empty(), "{diffs}");
}

/// supervisord in a temporary directory with the same programs as the scan directory.
fn supervisord(root: &Path, dir: &Path, port: u16) -> (Guard, Ctl, Ctl) {
    let conf = dir.join("supervisord.conf");
    let sock = dir.join("supervisor.sock");
    let web = dir.join("web.sh");
    script(&web, WEB);
    let flap = dir.join("flap.sh");
    script(&flap, FLAP);
    fs::write(
        &conf,
        format!(
            "[unix_http_server]\nfile={sock}\n\
             [inet_http_server]\nport=127.0.0.1:{port}\nusername=user\npassword=secret\n\
             [supervisord]\nlogfile={dir}/supervisord.log\npidfile={dir}/supervisord.pid\nchildlogdir={dir}\nnodaemon=true\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             [group:web]\nprograms=web,log\n\
             [program:web]\ncommand={web}\nstdout_logfile={dir}/web.log\nstartsecs=1\n\
             [program:log]\ncommand=sleep 1000\nstartsecs=1\n\
             [program:idle]\ncommand=sleep 1000\nautostart=false\nstartsecs=1\n\
             [program:flap]\ncommand={flap}\nautostart=false\nstartsecs=1\nstartretries=0\n",
            sock = sock.display(),
            dir = dir.display(),
            web = web.display(),
            flap = flap.display(),
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/python3")
        .arg(root.join("usr/bin/supervisord"))
        .args(["-c".as_ref(), conf.as_os_str()])
        .env("PYTHONPATH", root.join("usr/lib/python3/dist-packages"))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let guard = Guard(child);
    let (unix, tcp) = Ctl::both(root, &sock, port);
    (guard, unix, tcp)
}

/// svscan on a scan directory holding the same services, and vigild on it.
fn vigil(root: &Path, dir: &Path, port: u16) -> (Guard, Guard, Ctl, Ctl) {
    let scan = dir.join("scan");
    for d in ["web/log", "idle", "flap"] {
        fs::create_dir_all(scan.join(d)).unwrap();
    }
    script(&scan.join("web/run"), WEB);
    script(
        &scan.join("web/log/run"),
        &format!("exec {} t ./main", bin("multilog").display()),
    );
    script(&scan.join("idle/run"), "exec sleep 1000");
    fs::write(scan.join("idle/down"), "").unwrap();
    script(&scan.join("flap/run"), FLAP);
    fs::write(scan.join("flap/down"), "").unwrap();
    let svscan = common::svscan(&scan);
    let auth = dir.join("auth");
    fs::write(&auth, "user:secret\n").unwrap();
    fs::set_permissions(&auth, fs::Permissions::from_mode(0o600)).unwrap();
    let sock = dir.join("vigild.sock");
    let vigild = Command::new(env!("CARGO_BIN_EXE_vigild"))
        .arg("--listen")
        .arg(format!("unix:{}", sock.display()))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--auth-file"])
        .arg(&auth)
        .arg(&scan)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let vigild = Guard(vigild);
    let (unix, tcp) = Ctl::both(root, &sock, port);
    (svscan, vigild, unix, tcp)
}

#[test]
fn supervisorctl_prints_the_same_against_vigild_and_supervisord() {
    let Some(root) = supervisor_root() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Each transport against fresh servers: supervisord gives up on `flap` (FATAL) where
    // vigil keeps trying, so the second pass must not inherit the first's.
    for (n, how) in ["unix socket", "TCP with -u/-p"].into_iter().enumerate() {
        let (sd_dir, vg_dir) = (
            dir.path().join(format!("supervisord{n}")),
            dir.path().join(format!("vigil{n}")),
        );
        fs::create_dir_all(&sd_dir).unwrap();
        fs::create_dir_all(&vg_dir).unwrap();
        let (mut sd, sd_unix, sd_tcp) = supervisord(&root, &sd_dir, free_port());
        let (mut svscan, mut vigild, vg_unix, vg_tcp) = vigil(&root, &vg_dir, free_port());
        let (ours, theirs) = if n == 0 {
            (&vg_unix, &sd_unix)
        } else {
            (&vg_tcp, &sd_tcp)
        };
        wait_running(theirs, "web web:log");
        wait_running(ours, "web web:log");
        // Both at once: each python start costs a third of a second.
        let (ours_t, theirs_t) = std::thread::scope(|s| {
            let theirs_t = s.spawn(|| transcript(theirs));
            (
                transcript(ours),
                theirs_t.join().expect("supervisord's transcript"),
            )
        });
        compare(&ours_t, &theirs_t, how);
        if n == 1 {
            // A wrong password: the same refusal from both (a real 401).
            let wrong = |ctl: &Ctl| {
                let mut args = ctl.args.clone();
                *args.last_mut().expect("-p PASSWORD") = "wrong".into();
                Ctl {
                    root: ctl.root.clone(),
                    args,
                }
                .run("status", "")
            };
            assert_eq!(wrong(&vg_tcp), wrong(&sd_tcp), "a wrong password");
        }
        if n == 0 {
            sd.stop();
            vigild.stop();
            svscan.stop();
            continue;
        }
        // A single failing start: spawn error, exit 7.
        let _ = vg_unix.run("stop flap", "");
        let (out, code) = vg_unix.run("start flap", "");
        assert_eq!((out.as_str(), code), ("flap: ERROR (spawn error)\n", 7));
        // What vigil does not do, explained.
        let (out, code) = vg_unix.run("clear web", "");
        assert_eq!((out.as_str(), code), ("web: ERROR (failed)\n", 1));
        let out = vg_unix.run_until("fg web", "x\n", usize::MAX, "Exiting foreground");
        assert!(
            out.contains("standard input is not a terminal under vigil"),
            "{out}"
        );
        let (out, code) = vg_unix.run("shutdown", "");
        assert!(
            out.contains("vigild does not stop services") && code == 1,
            "{out}"
        );
        let (out, code) = vg_unix.run("reload", "");
        assert!(
            out.contains("no configuration to reload") && code == 1,
            "{out}"
        );
        let (out, code) = vg_tcp.run("maintail", "");
        assert_eq!(
            (out.as_str(), code),
            ("supervisord: ERROR (no log file)\n", 1),
            "{out}"
        );
        // ... and nothing stopped.
        assert_eq!(vg_unix.run("status web", "").1, 0);

        vigild.stop();
        svscan.stop();
        sd.stop();
    }
}

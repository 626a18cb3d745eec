//! multilog: daemontools' actions compared with the installed daemontools multilog, rotation
//! under SIGALRM, SIGTERM, long and binary lines, disk full, and no line lost when multilog is
//! SIGKILLed while a writer goes on.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::util::{bin, eventually, peer, text, Sandbox, Spawned};

/// Runs `program` with `args` in `cwd`, stdin from `input`; returns (exit code, stderr), which
/// is also left in `cwd/.stderr`.
fn run_on(program: &Path, cwd: &Path, args: &[&str], input: &Path) -> (i32, Vec<u8>) {
    let err = cwd.join(".stderr");
    let mut spawned = Spawned::start(
        Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdin(File::open(input).expect("input"))
            .stdout(Stdio::null())
            .stderr(File::create(&err).expect("stderr file")),
    );
    let status = spawned
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{} {args:?} did not finish", program.display()));
    let stderr = fs::read(&err).expect("stderr");
    (status.code().unwrap_or(-1), stderr)
}

/// Asserts two byte strings are equal; on failure shows where they part, not megabytes.
fn assert_same(ours: &[u8], theirs: &[u8], what: &str) {
    if ours == theirs {
        return;
    }
    let at = ours.iter().zip(theirs).take_while(|(a, b)| a == b).count();
    let around = |b: &[u8]| text(&b[at.saturating_sub(40)..(at + 40).min(b.len())]);
    panic!(
        "{what}: {} vs {} bytes, first difference at {at}: ours {:?} theirs {:?}",
        ours.len(),
        theirs.len(),
        around(ours),
        around(theirs)
    );
}

/// Replaces every TAI64N label (`@` + 24 hex digits) with `@T`.
fn mask_stamps(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let label = bytes[i] == b'@'
            && bytes.len() >= i + 25
            && bytes[i + 1..i + 25]
                .iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        if label {
            out.extend_from_slice(b"@T");
            i += 25;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A log directory's entries: names with labels masked, modes, in name order (old files in
/// the order they were made).
fn listing(dir: &Path) -> Vec<Entry> {
    let mut entries: Vec<Entry> = fs::read_dir(dir)
        .expect("read log dir")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            let mode = e.metadata().expect("stat").permissions().mode() & 0o7777;
            (name, mode)
        })
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|(name, mode)| (text(&mask_stamps(name.as_bytes())), mode))
        .collect()
}

/// A directory entry: name (labels masked) and mode.
type Entry = (String, u32);

/// The old files of a log directory in the order they were made, then `current`.
fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut old: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read log dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.as_encoded_bytes()[0] == b'@')
        })
        .collect();
    old.sort();
    let current = dir.join("current");
    if current.exists() {
        old.push(current);
    }
    old
}

/// Everything a log directory holds, oldest first.
fn log_text(dir: &Path) -> Vec<u8> {
    log_files(dir)
        .iter()
        .flat_map(|p| fs::read(p).expect("read log file"))
        .collect()
}

/// Input that exercises every cut daemontools makes: empty lines, lines around the 200-byte
/// alert cut and the 1000-byte head, lines longer than the 4096-byte size cap, NULs and
/// binary bytes, and a final line without its newline.
fn awkward_input(rounds: usize) -> Vec<u8> {
    let mut input = Vec::new();
    let lengths = [
        0, 1, 5, 199, 200, 201, 973, 974, 975, 999, 1000, 1001, 1500, 5000, 9000,
    ];
    for round in 0..rounds {
        for (k, &len) in lengths.iter().enumerate() {
            let mut line = format!("L{round:02}{k:02} ").into_bytes();
            if round % 3 == 0 {
                line.extend_from_slice(b"STAT ");
            }
            if round % 5 == 0 {
                line.extend_from_slice(b"\0\xff\x01bin[7]: ");
            }
            while line.len() < len {
                line.push(b"abcdefghij*[]"[line.len() % 13]);
            }
            line.truncate(len.max(1));
            input.extend_from_slice(&line);
            input.push(b'\n');
        }
    }
    input.extend_from_slice(b"no newline at the end");
    input
}

/// Runs ours and daemontools' multilog on the same input and script in twin sandboxes;
/// asserts the same exit code, stderr, status files and log directories (names, modes, and
/// every file's contents, so every cut; with `t`, labels masked). Returns the twin sandboxes for more checks.
fn differential(args: &[&str], input: &[u8]) -> Option<(Sandbox, Sandbox)> {
    let theirs_bin = peer("/usr/bin/multilog")?;
    let ours = Sandbox::new();
    let theirs = Sandbox::new();
    let in_ours = ours.write("input", input);
    let in_theirs = theirs.write("input", input);
    let (code_ours, err_ours) = run_on(&bin("multilog"), ours.path(), args, &in_ours);
    let (code_theirs, err_theirs) = run_on(&theirs_bin, theirs.path(), args, &in_theirs);
    assert_eq!(code_ours, code_theirs, "exit code of {args:?}");
    let what = format!("stderr of {args:?}");
    assert_same(&mask_stamps(&err_ours), &mask_stamps(&err_theirs), &what);
    for arg in args {
        if let Some(status) = arg.strip_prefix('=') {
            let (a, b) = (ours.join(status), theirs.join(status));
            assert_same(
                &mask_stamps(&fs::read(a).expect("our status file")),
                &mask_stamps(&fs::read(b).expect("their status file")),
                status,
            );
        }
        if arg.starts_with('.') {
            let (a, b) = (ours.join(arg), theirs.join(arg));
            assert_eq!(listing(&a), listing(&b), "entries of {arg}");
            for (x, y) in log_files(&a).iter().zip(log_files(&b)) {
                assert_same(
                    &mask_stamps(&fs::read(x).expect("ours")),
                    &mask_stamps(&fs::read(&y).expect("theirs")),
                    &format!("{}", x.display()),
                );
            }
        }
    }
    Some((ours, theirs))
}

#[test]
fn every_action_matches_daemontools_on_awkward_input() {
    let input = awkward_input(40);
    differential(
        &[
            "e", "-*", "+L*STAT*", "=stat", "+L0*", "n99", "./all", "-*bin*", "e", "./nobin",
        ],
        &input,
    );
    differential(&["-L1*", "+L13*", "=last", "./sel"], &input);
    differential(&["t", "e", "-* L0* *", "./stamped", "=st"], &input);
}

#[test]
fn size_caps_split_long_lines_and_keep_every_byte() {
    let input = awkward_input(8);
    // No pruning (n99): every byte of input must be somewhere, in order.
    if let Some((ours, _)) = differential(&["s4096", "n99", "./small"], &input) {
        let mut want = input.clone();
        want.push(b'\n');
        assert_same(&log_text(&ours.join("small")), &want, "everything in order");
        for file in log_files(&ours.join("small")) {
            let len = fs::metadata(&file).expect("stat").len();
            assert!(len <= 4096, "{} has {len} bytes", file.display());
        }
    }
}

#[test]
fn number_cap_keeps_fewer_than_num_old_files() {
    let input = awkward_input(8);
    if let Some((ours, _)) = differential(&["s4096", "n3", "./few"], &input) {
        let old = log_files(&ours.join("few")).len() - 1;
        assert_eq!(old, 2, "n3 keeps two old files and current");
    }
}

#[test]
fn patterns_select_as_daemontools_does() {
    let lines = b"hello\nhello world\nnamed[135]: Cleaned cache of 3121 RRs\nnamed[1]x]: Cleaned cache of 3\n\
fatal: out of memory\nwarning: fatal: x\na*b\naXXb\naXbXb\nab\nx\nx*\n\n*\nSTATUS ok\nxSTAT\n";
    let patterns = [
        "hello",
        "named[*]: Cleaned cache *",
        "*: fatal: *",
        "fatal: *",
        "a*b",
        "a**b",
        "**",
        "*",
        "",
        "*b",
        "STAT*",
        "*x*",
        "x*",
    ];
    for pattern in patterns {
        let select = format!("+{pattern}");
        differential(&["-*", &select, "e", "./d"], lines);
        let deselect = format!("-{pattern}");
        differential(&[&deselect, "e"], lines);
    }
}

/// A file a killed multilog or processor left: name, contents, mode.
type Leftover = (&'static str, &'static str, u32);

#[test]
fn restart_recovers_as_daemontools_after_every_kind_of_stop() {
    let Some(_) = peer("/usr/bin/multilog") else {
        return;
    };
    // (name, current's mode after the first run, files a killed processor left)
    let cases: [(&str, u32, &[Leftover]); 4] = [
        ("clean end", 0o744, &[]),
        ("crash", 0o644, &[]),
        (
            "crash before processed was complete",
            0o644,
            &[
                ("previous", "prev\n", 0o744),
                ("processed", "PR", 0o644),
                ("newstate", "n", 0o644),
            ],
        ),
        (
            "crash after processed was complete",
            0o644,
            &[
                ("previous", "prev\n", 0o744),
                ("processed", "PREV\n", 0o744),
                ("newstate", "n", 0o644),
            ],
        ),
    ];
    for (case, mode, leftovers) in cases {
        let mut outcomes = Vec::new();
        for program in [bin("multilog"), PathBuf::from("/usr/bin/multilog")] {
            let sb = Sandbox::new();
            let input = sb.write("input", "one\ntwo\n");
            assert_eq!(run_on(&program, sb.path(), &["./d"], &input).0, 0);
            let current = sb.join("d/current");
            fs::set_permissions(&current, fs::Permissions::from_mode(mode)).expect("chmod");
            for (name, contents, mode) in leftovers {
                let path = sb.write(Path::new("d").join(name), contents);
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).expect("chmod");
            }
            assert_eq!(run_on(&program, sb.path(), &["./d"], &input).0, 0);
            let dir = sb.join("d");
            let state = fs::read(dir.join("state")).ok();
            outcomes.push((listing(&dir), text(&log_text(&dir)), state));
        }
        assert_eq!(outcomes[0], outcomes[1], "{case}");
    }
}

#[test]
fn second_multilog_on_a_dir_fails_before_reading() {
    let sb = Sandbox::new();
    let mut first = Spawned::start(
        Command::new(bin("multilog"))
            .arg("./d")
            .current_dir(sb.path())
            .stdin(Stdio::piped()),
    );
    assert!(eventually(Duration::from_secs(10), || sb
        .join("d/lock")
        .exists()));
    std::thread::sleep(Duration::from_millis(100));
    let input = sb.write("input", "must stay unread\n");
    let (code, err) = run_on(&bin("multilog"), sb.path(), &["./d"], &input);
    assert_eq!(code, 111);
    assert_eq!(
        text(&err),
        "multilog: fatal: unable to lock directory ./d: temporary failure\n"
    );
    drop(first.child.stdin.take());
    assert!(first.wait_timeout(Duration::from_secs(10)).is_some());
    assert_eq!(fs::read(sb.join("d/current")).expect("current"), b"");
}

#[test]
fn unknown_actions_are_usage_errors() {
    let sb = Sandbox::new();
    let input = sb.write("input", "x\n");
    for bad in [&["x"][..], &["./d", "t"], &[""], &["S100", "./d"]] {
        let (code, err) = run_on(&bin("multilog"), sb.path(), bad, &input);
        assert_eq!(code, 100, "{bad:?}");
        assert_eq!(text(&err), "multilog: usage: multilog script\n");
    }
    assert!(
        !sb.join("d").exists(),
        "nothing made before the usage error"
    );
}

#[test]
fn processor_output_becomes_the_s_file_and_state_passes_through_fds_4_and_5() {
    let processor = "!tr a-z A-Z; cat <&4 >&5; echo seen >&5";
    let args = [processor, "s4096", "n99", "./p"];
    let input: Vec<u8> = (0..400)
        .flat_map(|i| format!("line {i:04} of the processor test\n").into_bytes())
        .collect();
    let ours = Sandbox::new();
    let in_ours = ours.write("input", &input);
    let (code, err) = run_on(&bin("multilog"), ours.path(), &args, &in_ours);
    assert_eq!((code, text(&err)), (0, String::new()));
    let dir = ours.join("p");
    let files = log_files(&dir);
    let rotations = files.len() - 1;
    assert!(rotations >= 3, "only {rotations} rotations");
    let mut all = Vec::new();
    for (k, file) in files.iter().enumerate() {
        let bytes = fs::read(file).expect("read");
        let upper = bytes.is_ascii() && bytes == bytes.to_ascii_uppercase();
        if k < rotations {
            assert!(upper, "{} not processed", file.display());
        } else {
            assert!(bytes.is_empty() || !upper, "current processed");
        }
        all.extend_from_slice(&bytes.to_ascii_lowercase());
    }
    assert_same(&all, &input, "processed and current hold every line");
    // Each processor run appended a line to the state it was given on fd 4.
    assert_eq!(
        text(&fs::read(dir.join("state")).expect("state")),
        "seen\n".repeat(rotations)
    );
    if let Some(theirs_bin) = peer("/usr/bin/multilog") {
        let theirs = Sandbox::new();
        let in_theirs = theirs.write("input", &input);
        let (code, err) = run_on(&theirs_bin, theirs.path(), &args, &in_theirs);
        assert_eq!((code, text(&err)), (0, String::new()));
        assert_eq!(listing(&dir), listing(&theirs.join("p")));
        assert_same(
            &log_text(&dir),
            &log_text(&theirs.join("p")),
            "processed logs",
        );
    }
}

#[test]
fn processor_child_starts_with_no_signal_blocked_or_ignored() {
    let sb = Sandbox::new();
    let input = sb.write("input", "x\n".repeat(3000));
    let args = [
        "!cat; grep -E '^Sig(Blk|Ign)' /proc/self/status >&2",
        "s4096",
        "./p",
    ];
    let (code, err) = run_on(&bin("multilog"), sb.path(), &args, &input);
    assert_eq!(code, 0);
    let err = text(&err);
    let field = |name: &str| {
        let line = err
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {err}"));
        u64::from_str_radix(line[name.len()..].trim(), 16).expect("hex mask")
    };
    assert_eq!(field("SigBlk:"), 0, "blocked signals in the processor");
    let sigpipe = 1u64 << (libc::SIGPIPE - 1);
    assert_eq!(
        field("SigIgn:") & sigpipe,
        0,
        "SIGPIPE ignored in the processor"
    );
}

/// A shell pipeline: `writer | until multilog ARGS; do :; done`, so the pipe outlives any
/// one multilog as it outlives a logger under svscan. Returns the sandbox and the pipeline.
fn pipeline(writer: &str, args: &str) -> (Sandbox, Spawned) {
    let sb = Sandbox::new();
    let script = format!(
        "{writer} | {{ until {} {args}; do :; done; }}",
        bin("multilog").display()
    );
    let spawned = shell_in(&sb, &script);
    (sb, spawned)
}

/// `/bin/sh -c SCRIPT` in the sandbox, its stderr in SANDBOX/stderr.
fn shell_in(sb: &Sandbox, script: &str) -> Spawned {
    Spawned::start(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(sb.path())
            .stdin(Stdio::null())
            .stderr(File::create(sb.join("stderr")).expect("stderr")),
    )
}

/// The multilog processes running in the sandbox (found by pid through /proc).
fn multilogs(sb: &Sandbox) -> Vec<i32> {
    let ours = bin("multilog");
    sb.processes()
        .into_iter()
        .filter(|pid| fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == ours))
        .collect()
}

/// Checks that the log holds every number 1..=count on a whole `@label NNNNNNNN ...` line
/// (duplicates allowed: at-least-once) and nothing else.
fn assert_every_number_once_or_more(log: &[u8], count: u32, padding: &str) {
    let mut seen = BTreeSet::new();
    for line in text(log).lines() {
        let (label, rest) = line.split_at(line.len().min(26));
        assert!(
            label.starts_with("@4000") && label.ends_with(' '),
            "torn line: {line:?}"
        );
        let (number, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        assert_eq!(tail, padding, "torn line: {line:?}");
        let n: u32 = number
            .parse()
            .unwrap_or_else(|_| panic!("torn line: {line:?}"));
        seen.insert(n);
    }
    let missing: Vec<u32> = (1..=count).filter(|n| !seen.contains(n)).take(10).collect();
    assert!(missing.is_empty(), "lines lost, e.g. {missing:?}");
    assert_eq!(seen.len(), count as usize, "numbers beyond the input");
}

#[test]
fn no_line_lost_or_torn_when_multilog_is_killed_repeatedly() {
    const CHUNKS: u32 = 150;
    const PER_CHUNK: u32 = 1000;
    let padding = "abcdefghijklmnopqrstuvwxyz0123456789";
    // seq writes 4096-byte blocks, so lines are cut between writes; the sleeps spread the
    // input over more than a second so the kills land while it flows.
    let writer = format!(
        "i=0; while [ $i -lt {CHUNKS} ]; do seq -f '%08g {padding}' $((i*{PER_CHUNK}+1)) \
         $((i*{PER_CHUNK}+{PER_CHUNK})); i=$((i+1)); sleep 0.01; done"
    );
    let (sb, mut spawned) = pipeline(&writer, "t s100000 n1000 ./log");
    let mut kills = 0;
    while kills < 8 {
        std::thread::sleep(Duration::from_millis(120));
        if let Some(&pid) = multilogs(&sb).first() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            kills += 1;
        }
        if spawned.child.try_wait().expect("wait").is_some() {
            break;
        }
    }
    let status = spawned.wait_timeout(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "pipeline did not end");
    assert!(kills >= 3, "only {kills} kills landed while input flowed");
    assert_every_number_once_or_more(&log_text(&sb.join("log")), CHUNKS * PER_CHUNK, padding);
}

#[test]
fn sigalrm_rotates_and_sigterm_restarts_under_load_within_the_caps_and_lose_nothing() {
    const CHUNKS: u32 = 150;
    const PER_CHUNK: u32 = 1000;
    const COUNT: u32 = CHUNKS * PER_CHUNK;
    let padding = "sigalrm rotation under load";
    let multilog = format!("{} t s20000 n10000 ./log", bin("multilog").display());
    // A multilog stopped by SIGTERM is started again on the same pipe; once the writer is
    // done, a last one reads to the end, deaf to the test's signals (one that came before
    // multilog blocked it would kill it, and nothing would restart it).
    let script = format!(
        "{{ i=0; while [ $i -lt {CHUNKS} ]; do seq -f '%08g {padding}' $((i*{PER_CHUNK}+1)) \
         $((i*{PER_CHUNK}+{PER_CHUNK})); i=$((i+1)); sleep 0.005; done; touch written; }} | \
         while :; do {multilog}; if [ -e written ]; then (trap '' TERM ALRM; exec {multilog}); \
         break; fi; done"
    );
    let sb = Sandbox::new();
    let mut spawned = Spawned::start(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(sb.path())
            .stderr(File::create(sb.join("stderr")).expect("stderr")),
    );
    let (mut alarms, mut terms) = (0, 0);
    while spawned.child.try_wait().expect("wait").is_none() {
        for pid in multilogs(&sb) {
            let pid = nix::unistd::Pid::from_raw(pid);
            if alarms % 10 == 9 && !sb.join("written").exists() {
                let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
                terms += 1;
            } else {
                let _ = nix::sys::signal::kill(pid, Signal::SIGALRM);
            }
            alarms += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = spawned.wait_timeout(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "pipeline did not end");
    assert!(
        terms >= 2 && alarms >= 20,
        "{alarms} signals, {terms} SIGTERMs"
    );
    let dir = sb.join("log");
    let log = log_text(&dir);
    assert_every_number_once_or_more(&log, COUNT, padding);
    assert_eq!(text(&log).lines().count(), COUNT as usize, "a line twice");
    for file in log_files(&dir) {
        let bytes = fs::read(&file).expect("read");
        assert!(bytes.len() <= 20_000, "{} too big", file.display());
        assert!(
            bytes.is_empty() || bytes.ends_with(b"\n"),
            "{} cut",
            file.display()
        );
    }
}

#[test]
fn sigterm_leaves_an_unfinished_line_in_the_pipe_for_the_next_reader() {
    let sb = Sandbox::new();
    let script = format!(
        "(printf 'one\\ntw'; sleep 1; printf 'o\\nthree\\n') | {{ exec 3<&0; {} ./d <&3 & pid=$!; \
         sleep 0.4; kill -TERM $pid; wait $pid; echo \"exit $?\" > code; cat > rest; }}",
        bin("multilog").display()
    );
    let mut spawned = Spawned::start(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(sb.path()),
    );
    assert!(spawned
        .wait_timeout(Duration::from_secs(20))
        .is_some_and(|s| s.success()));
    assert_eq!(fs::read(sb.join("code")).expect("code"), b"exit 0\n");
    assert_eq!(fs::read(sb.join("d/current")).expect("current"), b"one\n");
    assert_eq!(fs::read(sb.join("rest")).expect("rest"), b"two\nthree\n");
    let mode = fs::metadata(sb.join("d/current"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o744, "finished current");
}

#[test]
fn a_line_longer_than_memory_allows_is_streamed() {
    // 64 MB in one line, multilog limited to 48 MB of address space: only streaming fits.
    let sb = Sandbox::new();
    let script = format!(
        "head -c 64000000 /dev/zero | tr '\\0' a | (ulimit -v 49152; exec {} s16777215 n99 ./d)",
        bin("multilog").display()
    );
    let mut spawned = Spawned::start(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(sb.path()),
    );
    let status = spawned.wait_timeout(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "multilog failed");
    let files = log_files(&sb.join("d"));
    let total: u64 = files
        .iter()
        .map(|f| fs::metadata(f).expect("stat").len())
        .sum();
    assert_eq!(total, 64_000_001);
    assert_eq!(files.len(), 4, "16777215-byte pieces, then current");
}

#[test]
fn disk_full_pauses_and_resumes_without_loss() {
    let sb = Sandbox::new();
    let mnt = sb.join("small");
    fs::create_dir(&mnt).expect("mkdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "vigil-test"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    sb.write("small/filler", vec![b'f'; 900_000]);
    const COUNT: u32 = 10_000;
    let padding = "disk full test line";
    let writer = format!("seq -f '%08g {padding}' 1 {COUNT}");
    let script = format!(
        "{writer} | {} t s1000000 n10 ./small/log",
        bin("multilog").display()
    );
    let mut spawned = shell_in(&sb, &script);
    assert!(
        eventually(Duration::from_secs(20), || fs::read(sb.join("stderr"))
            .is_ok_and(|e| text(&e).contains("out of disk space"))),
        "no warning about the full disk"
    );
    let warning = text(&fs::read(sb.join("stderr")).expect("stderr"));
    assert!(
        warning.starts_with(
            "multilog: warning: unable to write to ./small/log/current, pausing: out of disk space"
        ),
        "{warning}"
    );
    fs::remove_file(mnt.join("filler")).expect("free space");
    let status = spawned.wait_timeout(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "multilog did not finish"
    );
    let log = log_text(&mnt.join("log"));
    assert_every_number_once_or_more(&log, COUNT, padding);
    assert_eq!(text(&log).lines().count(), COUNT as usize);
}

#[test]
fn a_current_left_mid_line_is_completed_by_the_next_input() {
    let sb = Sandbox::new();
    let input = sb.write("input", "the rest of it\nnext\n");
    sb.write("d/current", "@400000006b06d8b414c530d0 first half, ");
    let (code, err) = run_on(&bin("multilog"), sb.path(), &["t", "./d"], &input);
    assert_eq!((code, text(&err)), (0, String::new()));
    let log = text(&log_text(&sb.join("d")));
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log:?}");
    assert_eq!(
        lines[0],
        "@400000006b06d8b414c530d0 first half, the rest of it"
    );
    assert!(lines[1].ends_with(" next") && lines[1].starts_with("@4000"));
}

/// A multilog SIGKILLed in the middle of its write(2) of a block leaves `current` ending in
/// part of a line whose block is still in the pipe (bytes leave it only once written). The
/// next multilog must not join the replayed block to that half line (seen as a torn line in
/// multilog::no_line_lost_or_torn_when_multilog_is_killed_repeatedly).
#[test]
fn a_half_line_a_killed_write_left_is_replaced_by_the_pipe_s_copy() {
    let sb = Sandbox::new();
    let pad = "abcdefghijklmnopqrstuvwxyz";
    sb.write(
        "d/current",
        format!("@400000006b06d8b414c530d0 00000001 {pad}\n@400000006b06d8b414c530d0 00000002 abc"),
    );
    let script = format!(
        "printf '00000002 {pad}\\n00000003 {pad}\\n' | {} t ./d",
        bin("multilog").display()
    );
    let mut spawned = Spawned::start(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(sb.path())
            .stdin(Stdio::null()),
    );
    let status = spawned.wait_timeout(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "multilog did not end");
    assert_every_number_once_or_more(&log_text(&sb.join("d")), 3, pad);
}

#[test]
fn a_failing_processor_is_reported_and_run_again_after_a_pause() {
    // Fails the first time (exit 1), then works: multilog warns, pauses 5 s, runs it again.
    let processor =
        "!if [ -e ../failed-once ]; then tr a-z A-Z; else touch ../failed-once; exit 1; fi";
    let input: Vec<u8> = (0..200)
        .flat_map(|i| format!("line {i:04} of the failing processor test\n").into_bytes())
        .collect();
    let Some((ours, _)) = differential(&[processor, "s4096", "n99", "./p"], &input) else {
        return;
    };
    // The same line from daemontools (compared by differential).
    assert_eq!(
        text(&fs::read(ours.join(".stderr")).expect("stderr")),
        "multilog: warning: processor failed in ./p, pausing\n"
    );
    let files = log_files(&ours.join("p"));
    assert!(files.len() >= 2, "rotated at least once");
    assert!(text(&fs::read(&files[0]).expect("first")).starts_with("LINE 0000 OF THE FAILING"));
}

//! svtop: plain lines when piped, a coloured screen under a pseudo-terminal.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::supervise::Supervised;
use crate::util::{bin, cmd, peer, run, text, Sandbox};

/// Our supervise on `dir`, once the service is up.
fn supervise(dir: &Path) -> Supervised {
    let sup = Supervised::start(&bin("supervise"), dir);
    sup.wait_up();
    sup
}

/// Two services, `busy` spinning a core and `idle` sleeping, both supervised.
fn two_services(sb: &Sandbox) -> (Supervised, Supervised) {
    let busy = sb.service("busy", "exec sh -c 'while :; do :; done'");
    let idle = sb.service("idle", "exec sleep 100");
    (supervise(&busy), supervise(&idle))
}

fn svtop_in(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = cmd("svtop");
    c.current_dir(sb.path()).args(args);
    c
}

#[test]
fn piped_output_is_plain_lines_sorted_by_cpu() {
    let sb = Sandbox::new();
    let _sups = two_services(&sb);
    let out = run(
        &mut svtop_in(&sb, &["-n", "2", "-d", "0.5", "idle", "busy", "nothere"]),
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains('\x1b'),
        "escape codes in piped output: {stdout:?}"
    );
    let blocks: Vec<&str> = stdout.split("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{stdout}");
    let last: Vec<&str> = blocks[1].lines().collect();
    assert!(
        last[0].starts_with("NAME") && last[0].contains(" STATE "),
        "{stdout}"
    );
    assert!(
        last[0].contains("CPU%") && last[0].contains("MEM"),
        "{stdout}"
    );
    assert_eq!(last.len(), 4, "{stdout}");
    // Sorted by CPU: the spinner first, the unreadable one last.
    assert!(last[1].starts_with("busy "), "{stdout}");
    assert!(last[2].starts_with("idle "), "{stdout}");
    assert!(
        last[3].starts_with("nothere ") && last[3].contains("unable to open: file does not exist"),
        "{stdout}"
    );
    let cpu = |row: &str| -> f64 {
        let fields: Vec<&str> = row.split_whitespace().collect();
        fields[5].parse().expect("cpu column")
    };
    assert!(cpu(last[1]) > cpu(last[2]), "{stdout}");
    let busy: Vec<&str> = last[1].split_whitespace().collect();
    assert_eq!(busy[1], "up", "{stdout}");
    assert_eq!(busy[4], "0", "restarts: {stdout}");
}

#[test]
fn sort_by_name_and_bad_options() {
    let sb = Sandbox::new();
    let _sups = two_services(&sb);
    let out = run(
        &mut svtop_in(&sb, &["-n", "1", "-s", "name", "idle", "busy"]),
        Duration::from_secs(20),
    );
    let stdout = text(&out.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["busy", "idle"], "{stdout}");
    for bad in [&["-s", "bogus", "x"][..], &[], &["-d", "0", "x"]] {
        let out = run(&mut svtop_in(&sb, bad), Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(100), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// `script` (util-linux) runs svtop on a pseudo-terminal of a known size.
fn script() -> Option<PathBuf> {
    peer("/usr/bin/script")
}

/// Runs `shell` (which runs svtop through script(1)) in the sandbox; the screen as it was just
/// before svtop left the alternate screen, 12 rows of 100 columns.
fn last_screen(sb: &Sandbox, shell: &str) -> vt100::Parser {
    let out = run(
        Command::new("sh")
            .current_dir(sb.path())
            .args(["-c", shell]),
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let leave = b"\x1b[?1049l";
    let end = out
        .stdout
        .windows(leave.len())
        .rposition(|w| w == leave)
        .expect("svtop leaves the alternate screen");
    let enter = b"\x1b[?1049h";
    assert!(out.stdout.windows(enter.len()).any(|w| w == enter));
    let mut parser = vt100::Parser::new(12, 100, 0);
    parser.process(&out.stdout[..end]);
    parser
}

/// The shell command that runs svtop with `args` on a 100x12 pseudo-terminal.
fn in_pty(script: &Path, args: &str) -> String {
    let inner = format!(
        "stty cols 100 rows 12; exec {} {args}",
        bin("svtop").display()
    );
    format!("{} -qec '{inner}' /dev/null", script.display())
}

#[test]
fn renders_a_coloured_screen_in_a_pty() {
    let sb = Sandbox::new();
    let Some(script) = script() else { return };
    let _sups = two_services(&sb);
    let parser = last_screen(&sb, &in_pty(&script, "-n 2 -d 0.3 -s memory busy idle"));
    let screen = parser.screen();
    let rows: Vec<String> = screen.rows(0, 100).collect();
    assert!(
        rows[0].starts_with("svtop: 2 services, sorted by memory"),
        "{rows:#?}"
    );
    assert!(rows[1].starts_with("NAME"), "{rows:#?}");
    assert!(
        screen.cell(1, 0).is_some_and(|c| c.inverse()),
        "header in reverse video"
    );
    let services: Vec<&str> = rows[2..4]
        .iter()
        .filter_map(|r| r.split_whitespace().next())
        .collect();
    let mut sorted = services.clone();
    sorted.sort();
    assert_eq!(sorted, ["busy", "idle"], "{rows:#?}");
    // The state column of an up service is green.
    let state_col = rows[1].find("STATE").expect("STATE header") as u16;
    let cell = screen.cell(2, state_col).expect("state cell");
    assert_eq!(cell.contents(), "u");
    assert_eq!(cell.fgcolor(), vt100::Color::Idx(2), "green state");
    assert!(rows[4..].iter().all(|r| r.trim().is_empty()), "{rows:#?}");
}

#[test]
fn keys_sort_and_quit_in_a_pty() {
    let sb = Sandbox::new();
    let Some(script) = script() else { return };
    let _sups = two_services(&sb);
    // No -n: only the `q` key ends it. `n` sorts by name first.
    let keys = "(sleep 1; printf n; sleep 1; printf q)";
    let parser = last_screen(
        &sb,
        &format!("{keys} | {}", in_pty(&script, "-d 0.2 -s cpu idle busy")),
    );
    let rows: Vec<String> = parser.screen().rows(0, 100).collect();
    assert!(
        rows[0].starts_with("svtop: 2 services, sorted by name"),
        "{rows:#?}"
    );
    assert!(
        rows[2].starts_with("busy ") && rows[3].starts_with("idle "),
        "{rows:#?}"
    );
}

/// The complete blocks of plain output so far (the last one may still be written).
fn blocks(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut blocks: Vec<String> = text.split("\n\n").map(str::to_owned).collect();
    blocks.pop();
    blocks
}

/// Issue 15 item 8: `svtop SCANDIR` shows every service in it (and its logger), follows
/// services as they appear and go, and makes nothing in the scan directory.
#[test]
fn a_scan_directory_shows_every_service_and_follows_them() {
    use crate::util::{eventually, Spawned};
    let sb = Sandbox::new();
    let x = sb.service("scan/x", "exec sleep 100");
    sb.script("scan/x/log/run", "#!/bin/sh\nexec cat > /dev/null\n");
    let _x = supervise(&x);
    let out = sb.join("svtop.out");
    let _svtop = Spawned::start(
        svtop_in(&sb, &["-s", "name", "-d", "0.2", "-n", "300", "scan"])
            .stdout(std::fs::File::create(&out).expect("out")),
    );
    let last = || blocks(&out).pop().unwrap_or_default();
    let limit = Duration::from_secs(10);
    let has = |name: &str| last().lines().any(|l| l.starts_with(&format!("{name} ")));
    assert!(
        eventually(limit, || has("scan/x") && has("scan/x/log")),
        "{}",
        last()
    );
    let row = last()
        .lines()
        .find(|l| l.starts_with("scan/x "))
        .map(str::to_owned)
        .unwrap_or_default();
    assert_eq!(row.split_whitespace().nth(1), Some("up"), "{row}");
    sb.service("scan/y", "exec sleep 100");
    assert!(eventually(limit, || has("scan/y")), "{}", last());
    std::fs::remove_dir_all(sb.join("scan/y")).expect("rm y");
    assert!(
        eventually(limit, || !has("scan/y") && has("scan/x")),
        "{}",
        last()
    );
    let mut made: Vec<_> = std::fs::read_dir(sb.join("scan"))
        .expect("ls scan")
        .map(|e| e.expect("entry").file_name())
        // (the test's supervise writes its stderr to DIR.err beside DIR)
        .filter(|n| !n.as_encoded_bytes().ends_with(b".err"))
        .collect();
    made.sort();
    assert_eq!(made, ["x"], "svtop made something in the scan directory");
}

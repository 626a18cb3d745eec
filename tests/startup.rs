//! The lean entry point of the short-lived programs (vigil_proc::entry): without std's runtime
//! they still repair closed standard fds, as a std `main` does. And how they are linked
//! (build.rs): static PIEs, but for the two that look up accounts.

use std::time::Duration;

use crate::util::{self, text, Sandbox};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn closed_stdin_and_stderr_are_reopened_on_dev_null() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("env")).expect("mkdir env");
    let chains = [
        format!("{}", util::bin("pgrphack").display()),
        format!("{} env", util::bin("envdir").display()),
        format!("{} -o =", util::bin("softlimit").display()),
        format!("{} lockfile", util::bin("setlock").display()),
    ];
    for chain in chains {
        // The shell closes fd 0 and 2, then becomes the helper; the helper's child reports what
        // it was handed. Left closed, readlink would fail with nothing to say it on.
        let script =
            format!("exec 0<&- 2>&-; exec {chain} readlink /proc/self/fd/0 /proc/self/fd/2");
        let out = util::run(
            std::process::Command::new("/bin/sh")
                .args(["-c", &script])
                .current_dir(sb.path()),
            LIMIT,
        );
        assert!(out.status.success(), "{chain}: {:?}", out.status);
        assert_eq!(text(&out.stdout), "/dev/null\n/dev/null\n", "{chain}");
    }
}

/// The ELF type and whether a program interpreter (ld.so) is named, from an executable's
/// header and program headers (64-bit little-endian only, as on this target).
fn elf_type_and_interp(path: &std::path::Path) -> (u16, bool) {
    let bytes = std::fs::read(path).expect("read binary");
    assert_eq!(&bytes[..4], b"\x7fELF", "{}", path.display());
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let (phoff, phentsize, phnum) = (u64_at(32) as usize, u16_at(54) as usize, u16_at(56));
    let interp = (0..phnum as usize)
        .map(|i| u32::from_le_bytes(bytes[phoff + i * phentsize..][..4].try_into().expect("4")))
        .any(|kind| kind == 3); // PT_INTERP
    (u16_at(16), interp)
}

/// supervise and multilog (one of each per service) and the programs scripts run over and over
/// are static PIEs: no ld.so to load, no shared library's private pages (build.rs,
/// static-programs.txt). setuidgid
/// and envuidgid stay dynamic: getpwnam loads NSS modules, which a static glibc cannot.
#[test]
fn per_service_and_short_lived_programs_are_static_pies() {
    let archive = std::process::Command::new("cc")
        .arg("-print-file-name=libc.a")
        .output()
        .map(|o| text(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let ci = std::env::var_os("CI").is_some_and(|v| v == "true");
    if !std::path::Path::new(&archive).is_absolute() && !ci {
        eprintln!("skipped: no libc.a (libc6-dev), so build.rs linked everything dynamically");
        return;
    }
    // The same list build.rs links from.
    let static_pies = include_str!("../static-programs.txt")
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|name| !name.is_empty())
        .collect::<Vec<_>>();
    for once_per_service in ["supervise", "multilog"] {
        assert!(
            static_pies.contains(&once_per_service),
            "{once_per_service} not listed"
        );
    }
    for name in static_pies {
        // ET_DYN (3): position-independent, so ASLR still moves it.
        assert_eq!(elf_type_and_interp(&util::bin(name)), (3, false), "{name}");
    }
    for name in ["setuidgid", "envuidgid"] {
        assert_eq!(elf_type_and_interp(&util::bin(name)), (3, true), "{name}");
    }
}

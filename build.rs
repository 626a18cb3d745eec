//! Link-time choices per binary that Cargo has no setting for (docs/bench.md, "Start-up cost"
//! and "Memory per supervise").
//!
//! **Static unwinder** (release): std names `libgcc_s.so.1` for its unwinder (backtraces,
//! landing pads in the precompiled std), and loading it costs every short-lived program (svok,
//! envdir, ...) about 0.1 ms at start-up: ld.so opens, maps and relocates a second library.
//! `libgcc_eh.a` is the same unwinder as an archive (gcc's `-static-libgcc`). Listed before
//! std's `-lgcc_s`, it resolves the `_Unwind_*` symbols of the LTO object, and `--as-needed`
//! (rustc's default) then drops libgcc_s.
//!
//! **Static PIEs: supervise and the short-lived programs** (every profile, so the tests run
//! what ships; the list is `static-programs.txt`, which tests/startup.rs reads too). One
//! supervise runs per service, and a dynamically linked one keeps about 20 kB of private pages that are ld.so's and libc.so's own (their relocated data, GOTs
//! and link maps) besides its own; linked with glibc's archive it maps no shared library and
//! relocates itself. svc, svstat, svok and the chain-loaders run over and over from scripts:
//! without ld.so they start in 0.7 to 0.9 of daemontools' time instead of 1.05 to 1.1. The
//! executables stay position-independent, so ASLR still moves them. Cargo can only make every
//! binary of a package static (`+crt-static`), and that would break setuidgid and envuidgid: a
//! static glibc's getpwnam loads the NSS modules of /etc/nsswitch.conf, which need the shared
//! libc (libnss_systemd crashes). So the binaries of `static-programs.txt` alone are linked with
//! `-static-pie`, and a directory of linker scripts named like the shared libraries (`libc.so`
//! reads `GROUP(libc.a ...)`) comes first in their library search path, so the `-lc -lm ...`
//! that rustc passes for a dynamic link pick the archives. Where glibc's archive is missing (no
//! libc6-dev), they are linked dynamically, with a warning.
//!
//! **Page-aligned segments** for supervise (lld's `-z separate-loadable-segments`; GNU ld
//! ignores it with a warning): each segment starts on a page of its own, so relocated data and
//! data with bss take as few pages as their size needs instead of straddling page boundaries
//! wherever the text ends. Those pages are dirty in every supervise, one set per service; the
//! padding is in the file only.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let crt_static = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if !gnu_linux || crt_static {
        return;
    }
    if var("PROFILE") == "release" {
        // The root package has no library target, so Cargo passes this to every binary.
        println!("cargo::rustc-link-lib=static:-bundle=gcc_eh");
        println!("cargo::rustc-link-arg-bin=supervise=-Wl,-z,separate-loadable-segments");
    }
    let dir = PathBuf::from(var("OUT_DIR")).join("static-glibc");
    let list = Path::new(&var("CARGO_MANIFEST_DIR")).join("static-programs.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    let text = match std::fs::read_to_string(&list) {
        Ok(text) => text,
        Err(e) => {
            println!(
                "cargo::warning=linking everything dynamically: unable to read {}: {e}",
                list.display()
            );
            return;
        }
    };
    let programs = static_programs(&text);
    match archive_shims(&dir) {
        Ok(()) => {
            for bin in &programs {
                println!("cargo::rustc-link-arg-bin={bin}=-L{}", dir.display());
                println!("cargo::rustc-link-arg-bin={bin}=-static-pie");
            }
        }
        Err(why) => println!("cargo::warning=linking {programs:?} dynamically: {why}"),
    }
}

/// The names of `static-programs.txt`: one a line, `#` starts a comment.
fn static_programs(text: &str) -> Vec<&str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The shared libraries rustc links a std binary against on linux-gnu (`-lgcc_s -lutil -lrt
/// -lpthread -lm -ldl -lc`), each with the archives that stand in for it.
const SHIMS: [(&str, &[&str]); 7] = [
    ("c", &["libc.a", "libgcc_eh.a", "libgcc.a"]),
    ("m", &["libm.a"]),
    ("pthread", &["libpthread.a"]),
    ("rt", &["librt.a"]),
    ("dl", &["libdl.a"]),
    ("util", &["libutil.a"]),
    ("gcc_s", &["libgcc_eh.a", "libgcc.a"]),
];

/// Writes `libNAME.so` linker scripts into `dir`, each a `GROUP` of the archives the C
/// compiler finds for it; `dir` then goes first on a static link's search path.
fn archive_shims(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("unable to create {}: {e}", dir.display()))?;
    let mut found = std::collections::HashMap::new();
    for (name, archives) in SHIMS {
        let mut paths = Vec::new();
        for &archive in archives {
            if !found.contains_key(archive) {
                found.insert(archive, find_archive(archive)?);
            }
            paths.push(format!("\"{}\"", found[archive]));
        }
        let script = format!(
            "/* {name}: the static archive, for a -static-pie link (build.rs) */\nGROUP ( {} )\n",
            paths.join(" ")
        );
        let shim = dir.join(format!("lib{name}.so"));
        std::fs::write(&shim, script)
            .map_err(|e| format!("unable to write {}: {e}", shim.display()))?;
    }
    Ok(())
}

/// The path of `archive` as the C compiler (rustc's linker driver) would find it.
fn find_archive(archive: &str) -> Result<String, String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .arg(format!("-print-file-name={archive}"))
        .output()
        .map_err(|e| format!("unable to run {cc}: {e}"))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Not found, cc prints the name back unchanged.
    if !out.status.success() || !Path::new(&path).is_absolute() || !Path::new(&path).exists() {
        return Err(format!("{cc} finds no {archive}"));
    }
    Ok(path)
}

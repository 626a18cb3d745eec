//! Links the unwinder statically into release builds, so vigil's binaries need libc alone.
//!
//! std names `libgcc_s.so.1` for its unwinder (backtraces, landing pads in the precompiled std),
//! and loading it costs every short-lived program (svok, envdir, ...) about 0.1 ms at start-up:
//! ld.so opens, maps and relocates a second library. `libgcc_eh.a` is the same unwinder as an
//! archive (gcc's `-static-libgcc`). Listed before std's `-lgcc_s`, it resolves the `_Unwind_*`
//! symbols of the LTO object, and `--as-needed` (rustc's default) then drops libgcc_s.
//!
//! supervise is also linked with `-z separate-loadable-segments` (lld; GNU ld ignores it with
//! a warning): each segment starts on a page of its own, so the relocated read-only data (7 kB)
//! takes 2 pages and data with bss (3 kB) 1, instead of 3 and 2 when they straddle page
//! boundaries where the text happens to end. Those pages are dirty in every supervise, one per
//! service; the padding is in the file only (docs/bench.md, "Memory per supervise").
//!
//! Release only: debug builds (tests) keep the default, and a `+crt-static` build already links
//! gcc_eh. See docs/bench.md, "Start-up cost".

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let gnu_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let crt_static = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if gnu_linux && !crt_static && var("PROFILE") == "release" {
        // The root package has no library target, so Cargo passes this to every binary.
        println!("cargo::rustc-link-lib=static:-bundle=gcc_eh");
        println!("cargo::rustc-link-arg-bin=supervise=-Wl,-z,separate-loadable-segments");
    }
}

//! Links the unwinder statically into release builds, so vigil's binaries need libc alone.
//!
//! std names `libgcc_s.so.1` for its unwinder (backtraces, landing pads in the precompiled std),
//! and loading it costs every short-lived program (svok, envdir, ...) about 0.1 ms at start-up:
//! ld.so opens, maps and relocates a second library. `libgcc_eh.a` is the same unwinder as an
//! archive (gcc's `-static-libgcc`). Listed before std's `-lgcc_s`, it resolves the `_Unwind_*`
//! symbols of the LTO object, and `--as-needed` (rustc's default) then drops libgcc_s.
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
    }
}

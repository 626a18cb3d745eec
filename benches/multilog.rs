//! Logger throughput: a 1,000,000-line realistic log (~109 MB) through a pipe into vigil's
//! multilog and the installed peers (daemontools' multilog, s6-log, svlogd), each with
//! timestamps, 1,000,000-byte files, 10 files kept (so each fsyncs at every rotation).
//! Prints a Markdown table: MB/s (best of 3 runs), peak RSS, and how many times faster vigil is.
//! Then the memory of idle loggers (one runs per logged service): 20 of each kind at once, one
//! line logged, input held open; mean PSS and private from /proc/PID/smaps_rollup.
//!
//! `cargo bench --bench multilog` (`VIGIL_BENCH_MEMORY_ONLY=1`: the memory table alone)

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

mod util;

const LINES: u64 = 1_000_000;
const RUNS: usize = 3;
/// Idle loggers of each kind for the memory table.
const FLEET: usize = 20;

/// Writes the input: lines shaped like a web service's (level, worker, request id, path,
/// status, duration), 60-160 bytes, from a fixed pseudo-random sequence.
fn make_input(path: &Path) -> Result<u64> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let levels = [
        "INFO", "INFO", "INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG",
    ];
    let paths = [
        "/api/v1/users",
        "/api/v1/orders/",
        "/healthz",
        "/static/app.js?v=",
        "/api/v2/search?q=term",
        "/login",
    ];
    let statuses = [200, 200, 200, 201, 304, 404, 500];
    for i in 0..LINES {
        let r = next();
        writeln!(
            out,
            "2026-11-25T12:{:02}:{:02}.{:03}Z {} [worker-{}] req={:08x} {}{} status={} dur={}ms{}",
            i / 60_000 % 60,
            i / 1000 % 60,
            i % 1000,
            levels[(r % 8) as usize],
            r >> 8 & 15,
            r >> 16 & 0xffff_ffff,
            paths[(r >> 48) as usize % paths.len()],
            r >> 20 & 0xffff,
            statuses[(r >> 40) as usize % statuses.len()],
            r >> 32 & 4095,
            if r % 5 == 0 {
                " extra=some-longer-context-value"
            } else {
                ""
            },
        )?;
    }
    out.flush()?;
    Ok(fs::metadata(path)?.len())
}

/// One logger under test.
struct Logger {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// svlogd reads its caps from DIR/config.
    config: Option<&'static str>,
}

/// What one run of a logger cost.
#[derive(Clone, Copy)]
struct Cost {
    /// Wall-clock seconds from the start of `cat` to the logger's exit.
    wall: f64,
    /// Peak RSS in KB (from /usr/bin/time).
    rss_kb: Option<u64>,
    /// User + system CPU seconds of the logger (from /usr/bin/time).
    cpu: Option<f64>,
}

/// Feeds `input` to the logger once.
fn measure(logger: &Logger, input: &Path, work: &Path, run: usize) -> Result<Cost> {
    let mut best = f64::MAX;
    let mut rss = None;
    let mut cpu = None;
    {
        let dir = work.join(format!("{}-{run}", logger.name));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        let log = dir.join("log");
        if let Some(config) = logger.config {
            fs::create_dir_all(&log)?;
            fs::write(log.join("config"), config)?;
        }
        let rss_file = dir.join("rss");
        let time = Path::new("/usr/bin/time");
        let mut cmd = if time.exists() {
            let mut c = Command::new(time);
            c.args(["-f", "%M %U %S", "-o"])
                .arg(&rss_file)
                .arg(&logger.program);
            c
        } else {
            Command::new(&logger.program)
        };
        cmd.args(&logger.args).arg("./log").current_dir(&dir);
        let start = Instant::now();
        let mut cat = Command::new("cat")
            .arg(input)
            .stdout(Stdio::piped())
            .spawn()
            .context("cat")?;
        let status = cmd
            .stdin(cat.stdout.take().context("cat stdout")?)
            .stderr(Stdio::inherit())
            .status()
            .with_context(|| format!("{}", logger.program.display()))?;
        let elapsed = start.elapsed().as_secs_f64();
        cat.wait()?;
        if !status.success() {
            bail!("{} failed: {status}", logger.name);
        }
        best = best.min(elapsed);
        if let Ok(text) = fs::read_to_string(&rss_file) {
            let fields: Vec<f64> = text
                .trim()
                .lines()
                .last()
                .unwrap_or("")
                .split(' ')
                .filter_map(|f| f.parse().ok())
                .collect();
            if let [kb, user, sys] = fields[..] {
                rss = Some(kb as u64);
                cpu = Some(user + sys);
            }
        }
        fs::remove_dir_all(&dir)?;
    }
    Ok(Cost {
        wall: best,
        rss_kb: rss,
        cpu,
    })
}

/// Mean PSS and private KB of FLEET idle loggers of each kind, all running at once (so the
/// shared libraries are shared as on a machine with many services), each with one line logged
/// and its input held open. Started without cargo's LD_LIBRARY_PATH, as svscan would start them.
fn idle_memory(loggers: &[Logger], work: &Path) -> Result<Vec<(f64, f64)>> {
    let mut running = Vec::new();
    for logger in loggers {
        let mut kids = Vec::new();
        for i in 0..FLEET {
            let dir = work.join(format!("idle-{}-{i}", logger.name.replace(' ', "-")));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir)?;
            if let Some(config) = logger.config {
                fs::create_dir_all(dir.join("log"))?;
                fs::write(dir.join("log/config"), config)?;
            }
            let mut kid = Command::new(&logger.program)
                .args(&logger.args)
                .arg("./log")
                .current_dir(&dir)
                .env_remove("LD_LIBRARY_PATH")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("{}", logger.program.display()))?;
            kid.stdin
                .as_mut()
                .context("stdin")?
                .write_all(b"one line\n")?;
            kids.push((kid, dir));
        }
        running.push(kids);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let mut out = Vec::new();
    for kids in &running {
        let (mut pss, mut private) = (0.0, 0.0);
        for (kid, _) in kids {
            let (p, q) = util::pss_and_private_kb(kid.id());
            pss += p / FLEET as f64;
            private += q / FLEET as f64;
        }
        out.push((pss, private));
    }
    for kids in running {
        for (mut kid, dir) in kids {
            drop(kid.stdin.take()); // end of input: the logger finishes and exits
            let _ = kid.wait();
            let _ = fs::remove_dir_all(dir);
        }
    }
    Ok(out)
}

/// Prints the idle-memory table.
fn print_memory(loggers: &[Logger], memory: &[(f64, f64)]) {
    println!(
        "\nIdle loggers, {FLEET} of each kind at once, one line logged, input held open; mean per \
         logger from /proc/PID/smaps_rollup. Date: {}\n",
        util::date_utc()
    );
    println!("| logger | PSS, KB | private, KB | PSS / vigil's |");
    println!("|---|---:|---:|---:|");
    let ours = memory[0].0;
    for (logger, (pss, private)) in loggers.iter().zip(memory) {
        println!(
            "| {} | {pss:.1} | {private:.1} | {:.2} |",
            logger.name,
            pss / ours
        );
    }
}

fn main() -> Result<()> {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-multilog");
    fs::create_dir_all(&work)?;
    let input = work.join("input.log");
    let caps = || vec!["t".to_string(), "s1000000".into(), "n10".into()];
    let mut loggers = vec![Logger {
        name: "vigil multilog",
        program: PathBuf::from(env!("CARGO_BIN_EXE_multilog")),
        args: caps(),
        config: None,
    }];
    let peers = [
        ("daemontools multilog", "/usr/bin/multilog", caps(), None),
        ("s6-log", "/usr/bin/s6-log", caps(), None),
        (
            "svlogd",
            "/usr/bin/svlogd",
            vec!["-tt".to_string()],
            Some("s1000000\nn10\n"),
        ),
    ];
    for (name, program, args, config) in peers {
        if Path::new(program).exists() {
            loggers.push(Logger {
                name,
                program: PathBuf::from(program),
                args,
                config,
            });
        } else {
            eprintln!("skipped: {program} is not installed");
        }
    }
    if std::env::var_os("VIGIL_BENCH_MEMORY_ONLY").is_some() {
        let memory = idle_memory(&loggers, &work)?;
        println!("Machine: {}", util::machine());
        print_memory(&loggers, &memory);
        return Ok(());
    }
    let bytes = make_input(&input)?;
    let mb = bytes as f64 / 1e6;
    // Runs alternate between loggers, so a burst of load elsewhere hits them alike.
    let mut results: Vec<(&Logger, Option<Cost>)> = loggers.iter().map(|l| (l, None)).collect();
    for run in 0..RUNS {
        for (logger, best) in &mut results {
            let cost = measure(logger, &input, &work, run)?;
            eprintln!("{}: {:.2} s", logger.name, cost.wall);
            if best.is_none_or(|b| cost.wall < b.wall) {
                *best = Some(cost);
            }
        }
    }
    let results: Vec<(&Logger, Cost)> = results
        .into_iter()
        .map(|(l, c)| (l, c.expect("at least one run")))
        .collect();
    let ours = results[0].1;
    println!(
        "{} lines, {:.1} MB through a pipe; caps s1000000 n10 with timestamps; best of {RUNS}.",
        LINES, mb
    );
    println!("Date: {}", util::date_utc());
    println!("Machine: {}\n", util::machine());
    println!(
        "| logger | command | MB/s | vigil faster by | CPU s | vigil uses less CPU by | peak RSS |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (logger, cost) in &results {
        let rss = cost.rss_kb.map_or("-".to_string(), |kb| {
            format!("{:.1} MB", kb as f64 / 1024.0)
        });
        let (cpu, cpu_ratio) = match (cost.cpu, ours.cpu) {
            (Some(c), Some(o)) if o > 0.0 => (format!("{c:.2}"), format!("{:.1}x", c / o)),
            _ => ("-".into(), "-".into()),
        };
        let program = logger.program.file_name().unwrap_or_default();
        println!(
            "| {} | `{} {} ./log` | {:.0} | {:.1}x | {} | {} | {} |",
            logger.name,
            program.to_string_lossy(),
            logger.args.join(" "),
            mb / cost.wall,
            cost.wall / ours.wall,
            cpu,
            cpu_ratio,
            rss
        );
    }
    let memory = idle_memory(&loggers, &work)?;
    print_memory(&loggers, &memory);
    fs::remove_file(&input)?;
    Ok(())
}

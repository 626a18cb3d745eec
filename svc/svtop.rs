//! svtop: a live view of many services: state, pid, uptime, restarts, CPU, memory, last exit.
//!
//! It reads each service's `supervise/status` and measures CPU and memory from /proc itself
//! (one pass over /proc per refresh for all services), so supervise does no work for it. On a
//! terminal it redraws in place (crossterm: alternate screen, colours, keys `c` `m` `n` to
//! sort, `q` to quit); when stdout is not a terminal, or with `-b`, it prints plain lines, one
//! block per refresh.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::{Attribute, Color, Print, SetAttribute, SetForegroundColor};
use crossterm::terminal::{self, ClearType};
use crossterm::{cursor, queue};
use vigil_client::scandir::{is_service_dir, ScanDir};
use vigil_client::service::{decode_lenient, Service};
use vigil_proto::exit::{self, LastExit};
use vigil_proto::msg::{self, Fail};
use vigil_proto::status::BreachRecord as Record;
use vigil_proto::status::State;
use vigil_proto::tai::Tai64n;
use vigil_usage::{Reader, Table};

/// What the rows are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SortKey {
    /// Most CPU first.
    Cpu,
    /// Most memory first.
    Memory,
    /// By directory name.
    Name,
}

/// svtop: a live view of supervised services (NEW in vigil).
#[derive(Debug, Parser)]
#[command(name = "svtop", version, about)]
struct Args {
    /// Sort by this column (keys c, m, n change it on a terminal).
    #[arg(short, long, value_enum, default_value_t = SortKey::Cpu)]
    sort: SortKey,
    /// Seconds between refreshes.
    #[arg(short, long, default_value_t = 1.0, value_parser = parse_delay)]
    delay: f64,
    /// Stop after this many refreshes (default: until q or a signal).
    #[arg(short = 'n', long)]
    iterations: Option<u64>,
    /// Plain lines even when stdout is a terminal.
    #[arg(short, long)]
    batch: bool,
    /// Service directories; a scan directory stands for every service in it (NEW), followed
    /// as they come and go.
    #[arg(required = true)]
    dirs: Vec<OsString>,
}

fn parse_delay(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(d) if (0.1..=3600.0).contains(&d) => Ok(d),
        _ => Err("expected seconds between 0.1 and 3600".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    msg::finish("svtop", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Err(Fail::silent(msg::EXIT_USAGE))
            } else {
                Ok(ExitCode::SUCCESS)
            };
        }
    };
    let delay = Duration::from_secs_f64(args.delay);
    let mut view = View::new(args.dirs, args.sort);
    let result = if !args.batch && io::stdout().is_terminal() {
        live(&mut view, delay, args.iterations)
    } else {
        plain(&mut view, delay, args.iterations)
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `svtop | head`: the reader left; that is the end, not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Fail::unable(&e, &[b"write to stdout"])),
    }
}

/// One service's line.
#[derive(Debug, Clone)]
struct Row {
    name: String,
    state: String,
    colour: Color,
    pid: u32,
    uptime: Option<u64>,
    restarts: Option<u32>,
    cpu_percent: Option<f64>,
    memory_bytes: Option<u64>,
    last_exit: String,
    breaches: String,
}

/// What a command-line directory stands for.
enum Target {
    /// One service directory.
    Service(OsString),
    /// NEW: a scan directory: every service in it, followed as they come and go (issue 15).
    Tree(ScanDir),
}

impl Target {
    /// A scan directory (a directory that is not a service directory) is watched; anything
    /// else is a service row (which says what is wrong with it).
    fn of(dir: OsString) -> Target {
        let scan = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir()) && !is_service_dir(&dir);
        match scan.then(|| ScanDir::open(&dir)) {
            Some(Ok(tree)) => Target::Tree(tree),
            Some(Err(_)) | None => Target::Service(dir),
        }
    }
}

/// The services and what the previous refresh measured (for CPU % between refreshes).
struct View {
    targets: Vec<Target>,
    sort: SortKey,
    reader: Reader,
    /// pid -> (when, CPU time then).
    previous: HashMap<u32, (Instant, Duration)>,
    rows: Vec<Row>,
}

impl View {
    fn new(dirs: Vec<OsString>, sort: SortKey) -> View {
        View {
            targets: dirs.into_iter().map(Target::of).collect(),
            sort,
            reader: Reader::new(),
            previous: HashMap::new(),
            rows: Vec::new(),
        }
    }

    /// Reads every service's status and usage.
    fn refresh(&mut self) {
        let table = self.reader.table();
        let now = Instant::now();
        let wall = Tai64n::now();
        let mut previous = HashMap::new();
        let mut dirs = Vec::new();
        for target in &mut self.targets {
            match target {
                Target::Service(dir) => dirs.push(dir.clone()),
                Target::Tree(tree) => {
                    // What inotify reported since the last refresh (a failed read keeps the
                    // list as it was).
                    let _ = tree.update();
                    dirs.extend(tree.services());
                }
            }
        }
        self.rows = dirs
            .iter()
            .map(|dir| {
                let row = row(dir, &table, wall, now, &self.previous);
                if let (Some(cpu), true) = (row.1, row.0.pid != 0) {
                    previous.insert(row.0.pid, (now, cpu));
                }
                row.0
            })
            .collect();
        self.previous = previous;
        self.sort_rows();
    }

    fn sort_rows(&mut self) {
        let key = |r: &Row| match self.sort {
            SortKey::Cpu => r.cpu_percent.unwrap_or(-1.0),
            SortKey::Memory => r.memory_bytes.map_or(-1.0, |m| m as f64),
            SortKey::Name => 0.0,
        };
        self.rows.sort_by(|a, b| {
            key(b)
                .partial_cmp(&key(a))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.name.cmp(&b.name))
        });
    }
}

/// The row for `dir`, and the CPU time of its processes (to compute the next CPU %).
fn row(
    dir: &OsString,
    table: &Table,
    wall: Tai64n,
    now: Instant,
    previous: &HashMap<u32, (Instant, Duration)>,
) -> (Row, Option<Duration>) {
    let mut row = Row {
        name: String::from_utf8_lossy(dir.as_bytes()).into_owned(),
        state: String::new(),
        colour: Color::DarkRed,
        pid: 0,
        uptime: None,
        restarts: None,
        cpu_percent: None,
        memory_bytes: None,
        last_exit: "-".into(),
        breaches: "-".into(),
    };
    let service = match Service::at(dir) {
        Ok(service) => service,
        Err(e) => {
            row.state = format!("unable to open: {}", vigil_proto::errstr::io_errstr(&e));
            return (row, None);
        }
    };
    let bytes = service.status_bytes();
    let record = bytes.as_deref().ok().and_then(Record::read_from);
    let status = match bytes.and_then(|b| decode_lenient(&b)) {
        Ok(status) => status,
        Err(e) => {
            row.state = e.to_string();
            return (row, None);
        }
    };
    // A service whose supervise cannot be asked counts as unsupervised.
    let running = service.is_supervised().unwrap_or(false);
    let state = match (&status.ext, status.pid) {
        (Some(ext), _) => ext.state,
        (None, 0) => State::Down,
        (None, _) => State::Up,
    };
    row.state = match (running, status.paused && status.pid != 0) {
        (false, _) => "unsupervised".to_string(),
        (true, true) => format!("{},paused", state.word()),
        (true, false) => state.word().to_string(),
    };
    row.colour = match (running, state) {
        (false, _) | (true, State::Down) => Color::DarkRed,
        (true, State::Up) => Color::DarkGreen,
        (true, State::Backoff) => Color::DarkYellow,
        (true, State::Starting | State::Finishing | State::Stopping) => Color::DarkCyan,
    };
    row.pid = status.pid;
    row.uptime = Some(status.when.secs_until(&wall));
    if let Some(ext) = &status.ext {
        row.restarts = Some(ext.restarts);
        row.last_exit = ext.last_exit.map_or("-".into(), describe_exit);
    }
    if let Some(Record {
        count,
        last: Some((_, kind)),
    }) = record
    {
        row.breaches = format!("{count} {}", kind.word());
    }
    if status.pid == 0 || !running {
        return (row, None);
    }
    let Some(usage) = table.run_usage(status.pid as i32, status.when.unix_secs(), false) else {
        return (row, None);
    };
    row.memory_bytes = Some(usage.memory_bytes);
    row.cpu_percent = match previous.get(&status.pid) {
        Some(&(then, cpu)) if now > then => Some(
            usage.cpu.saturating_sub(cpu).as_secs_f64() * 100.0
                / now.duration_since(then).as_secs_f64(),
        ),
        // First look: the mean since it started, as ps shows it.
        _ => row
            .uptime
            .filter(|&up| up > 0)
            .map(|up| usage.cpu.as_secs_f64() * 100.0 / up as f64),
    };
    (row, Some(usage.cpu))
}

/// `exit 3`, `signal TERM`, `signal SEGV (core)` from a wait status.
fn describe_exit(wait_status: i32) -> String {
    match LastExit::from_wait_status(wait_status) {
        LastExit::Code(code) => format!("exit {code}"),
        LastExit::Signal(signal) => {
            let core = if exit::core_dumped(wait_status) {
                " (core)"
            } else {
                ""
            };
            format!("signal {}{core}", exit::signal_name(signal))
        }
        // compat: what svtop printed for a status that is neither (never recorded).
        LastExit::Other(_) => format!("signal {}", wait_status & 0x7f),
    }
}

/// `42s`, `5m06s`, `3h04m`, `2d07h`.
fn format_uptime(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// `512B`, `64.0K`, `12.3M`, `1.5G`.
fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

const HEADERS: [&str; COLUMNS] = [
    "NAME",
    "STATE",
    "PID",
    "UPTIME",
    "RESTARTS",
    "CPU%",
    "MEM",
    "LAST EXIT",
    "BREACHES",
];
const COLUMNS: usize = 9;

/// The cells of a row, as text, in `HEADERS` order.
fn cells(row: &Row) -> [String; COLUMNS] {
    let dash = || "-".to_string();
    [
        row.name.clone(),
        row.state.clone(),
        if row.pid == 0 {
            dash()
        } else {
            row.pid.to_string()
        },
        row.uptime.map_or_else(dash, format_uptime),
        row.restarts.map_or_else(dash, |r| r.to_string()),
        row.cpu_percent.map_or_else(dash, |c| format!("{c:.1}")),
        row.memory_bytes.map_or_else(dash, format_bytes),
        row.last_exit.clone(),
        row.breaches.clone(),
    ]
}

/// Column widths that fit every cell.
fn widths(rows: &[[String; COLUMNS]]) -> [usize; COLUMNS] {
    let mut widths = HEADERS.map(str::len);
    for cells in rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    widths
}

/// A line of cells padded to `widths` (numbers right-aligned), without trailing spaces.
fn line(cells: &[String; COLUMNS], widths: &[usize; COLUMNS]) -> String {
    let mut out = String::new();
    for (i, (cell, &w)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            out.push_str("  ");
        }
        let numeric = matches!(i, 2 | 4 | 5 | 6);
        if numeric {
            out.push_str(&format!("{cell:>w$}"));
        } else {
            out.push_str(&format!("{cell:<w$}"));
        }
    }
    out.trim_end().to_string()
}

/// Plain lines, one block per refresh, blank line between blocks.
fn plain(view: &mut View, delay: Duration, iterations: Option<u64>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let mut done = 0u64;
    loop {
        view.refresh();
        let rows: Vec<_> = view.rows.iter().map(cells).collect();
        let widths = widths(&rows);
        if done > 0 {
            out.write_all(b"\n")?;
        }
        writeln!(out, "{}", line(&HEADERS.map(String::from), &widths))?;
        for cells in &rows {
            writeln!(out, "{}", line(cells, &widths))?;
        }
        out.flush()?;
        done += 1;
        if iterations.is_some_and(|n| done >= n) {
            return Ok(());
        }
        std::thread::sleep(delay);
    }
}

/// Puts the terminal back as it was, however `live` ends.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        terminal::enable_raw_mode()?;
        let guard = TerminalGuard;
        queue!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        io::stdout().flush()?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = queue!(io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
        let _ = io::stdout().flush();
        let _ = terminal::disable_raw_mode();
    }
}

/// The terminal view: redraw, then wait for a key, a resize or the next refresh.
fn live(view: &mut View, delay: Duration, iterations: Option<u64>) -> io::Result<()> {
    let _guard = TerminalGuard::enter()?;
    let mut done = 0u64;
    loop {
        view.refresh();
        draw(view)?;
        done += 1;
        if iterations.is_some_and(|n| done >= n) {
            return Ok(());
        }
        let next = Instant::now() + delay;
        // The only wait: a key, a resize, or the next refresh.
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            if !event::poll(left)? {
                break;
            }
            match event::read()? {
                Event::Key(KeyEvent {
                    code,
                    modifiers,
                    kind: KeyEventKind::Press,
                    ..
                }) => match (code, modifiers) {
                    (KeyCode::Char('q') | KeyCode::Esc, _) => return Ok(()),
                    (KeyCode::Char('c'), KeyModifiers::CONTROL) => return Ok(()),
                    (KeyCode::Char('c'), _) => view.sort = SortKey::Cpu,
                    (KeyCode::Char('m'), _) => view.sort = SortKey::Memory,
                    (KeyCode::Char('n'), _) => view.sort = SortKey::Name,
                    _ => continue,
                },
                Event::Resize(..) => {}
                _ => continue,
            }
            view.sort_rows();
            draw(view)?;
        }
    }
}

fn draw(view: &View) -> io::Result<()> {
    let (cols, lines) = terminal::size().unwrap_or((80, 24));
    let (cols, lines) = (usize::from(cols.max(20)), usize::from(lines.max(3)));
    let rows: Vec<_> = view.rows.iter().map(cells).collect();
    let widths = widths(&rows);
    let clip = |text: String| -> String { text.chars().take(cols).collect() };
    let sort = match view.sort {
        SortKey::Cpu => "cpu",
        SortKey::Memory => "memory",
        SortKey::Name => "name",
    };
    let mut out = io::stdout().lock();
    queue!(out, cursor::MoveTo(0, 0))?;
    let title = format!(
        "svtop: {} services, sorted by {sort}   keys: c cpu  m memory  n name  q quit",
        view.rows.len()
    );
    queue!(
        out,
        SetAttribute(Attribute::Bold),
        Print(clip(title)),
        SetAttribute(Attribute::Reset),
        terminal::Clear(ClearType::UntilNewLine),
        cursor::MoveToNextLine(1),
        SetAttribute(Attribute::Reverse),
        Print(format!(
            "{:<cols$}",
            clip(line(&HEADERS.map(String::from), &widths))
        )),
        SetAttribute(Attribute::Reset),
        cursor::MoveToNextLine(1),
    )?;
    for (row, cells) in view.rows.iter().zip(&rows).take(lines - 2) {
        let text = clip(line(cells, &widths));
        // Colour the state column only: it starts after the name column.
        let split = text
            .char_indices()
            .nth(widths[0] + 2)
            .map_or(text.len(), |(i, _)| i);
        let (name, rest) = text.split_at(split);
        let state_len = rest
            .char_indices()
            .nth(widths[1])
            .map_or(rest.len(), |(i, _)| i);
        let (state, rest) = rest.split_at(state_len);
        queue!(
            out,
            Print(name),
            SetForegroundColor(row.colour),
            Print(state),
            SetForegroundColor(Color::Reset),
            Print(rest),
            terminal::Clear(ClearType::UntilNewLine),
            cursor::MoveToNextLine(1),
        )?;
    }
    queue!(out, terminal::Clear(ClearType::FromCursorDown))?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described() {
        assert_eq!(describe_exit(0), "exit 0");
        assert_eq!(describe_exit(3 << 8), "exit 3");
        assert_eq!(describe_exit(15), "signal TERM");
        assert_eq!(describe_exit(11 | 0x80), "signal SEGV (core)");
    }

    #[test]
    fn sizes_and_times_are_short() {
        assert_eq!(format_bytes(512), "512B");
        assert_eq!(format_bytes(64 << 10), "64.0K");
        assert_eq!(format_bytes(3 << 29), "1.5G");
        assert_eq!(format_uptime(42), "42s");
        assert_eq!(format_uptime(306), "5m06s");
        assert_eq!(format_uptime(3 * 3600 + 240), "3h04m");
        assert_eq!(format_uptime(2 * 86_400 + 7 * 3600), "2d07h");
    }
}

//! `supervise/status`: daemontools' 18 bytes, then vigil's versioned extension.
//!
//! Bytes 0..18 are exactly daemontools 0.76's, so its `svstat` reads a vigil status file:
//!
//! | bytes  | field                                                              |
//! |--------|--------------------------------------------------------------------|
//! | 0..12  | TAI64N label of the last change of pid (8 s + 4 ns, big-endian)     |
//! | 12..16 | pid of the service, little-endian; 0 when down                       |
//! | 16     | 1 if paused (only while a pid runs), else 0                          |
//! | 17     | want: `u`, `d`, or 0 (none: after `o`, or daemontools' initial 0)     |
//!
//! vigil's extension follows (version 1; all integers little-endian):
//!
//! | bytes  | field                                                              |
//! |--------|--------------------------------------------------------------------|
//! | 18..20 | magic `vg`                                                          |
//! | 20     | extension version, 1                                                |
//! | 21     | N: the number of bytes after byte 21 (a newer supervise may append  |
//! |        | fields; a reader takes the ones it knows and skips the rest)        |
//! | 22     | state: 0 down, 1 starting, 2 up, 3 backoff, 4 finishing, 5 stopping |
//! | 23     | flags: bit 0 a last exit is recorded, bit 1 the service is ready     |
//! | 24     | cause of the current backoff: 0 none, 1 quick exit, 2 start failed   |
//! | 25     | consecutive failures (quick exits, failed starts; 255: more), 0 none  |
//! | 26..30 | restarts: starts of `run` after the first, since supervise started  |
//! | 30..34 | wait status of the last exit of `run` (as waitpid gives it)          |
//! | 34..46 | TAI64N end of the current backoff; all zero when none               |
//! | 46..58 | TAI64N of readiness; all zero when not ready                         |
//! | 58..66 | sequence number of the last event published                         |
//!
//! Appended by a supervise with resource limits (N = 62; see [`BreachRecord`]):
//!
//! | bytes  | field                                                              |
//! |--------|--------------------------------------------------------------------|
//! | 66..70 | number of limit breaches since supervise started                    |
//! | 70     | kind of the last breach: 0 none, 1 memory, 2 cpu, 3 files, 4 threads |
//! | 71     | reserved, 0                                                          |
//! | 72..84 | TAI64N of the last breach; all zero when none                        |
//!
//! Appended after them by a supervise that records who its run is (N = 86; see
//! [`RunIdentity`]):
//!
//! | bytes   | field                                                             |
//! |---------|-------------------------------------------------------------------|
//! | 84..92  | kernel start time of the run (field 22 of `/proc/PID/stat`, clock   |
//! |         | ticks since boot)                                                  |
//! | 92..108 | the boot's id (`/proc/sys/kernel/random/boot_id`, 16 bytes); all    |
//! |         | zero when no run is recorded                                       |
//!
//! The full layout is in docs/status-file.md; keep both in step.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};

use crate::paths;
use crate::tai::Tai64n;

/// Length of daemontools' part.
pub const DAEMONTOOLS_LEN: usize = 18;
/// Length of a version-1 vigil status file.
pub const V1_LEN: usize = 66;
const MAGIC: &[u8; 2] = b"vg";
const VERSION: u8 = 1;

/// The `want` byte: what supervise was last told to do with the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// `u`: keep it up.
    Up,
    /// `d`: keep it down.
    Down,
    /// 0: no standing wish (after `o`, or before any command).
    Nothing,
}

impl Want {
    fn byte(self) -> u8 {
        match self {
            Want::Up => b'u',
            Want::Down => b'd',
            Want::Nothing => 0,
        }
    }

    fn from_byte(byte: u8) -> Want {
        // compat: daemontools' svstat treats any byte but 'u' and 'd' as no wish.
        match byte {
            b'u' => Want::Up,
            b'd' => Want::Down,
            _ => Want::Nothing,
        }
    }
}

/// What supervise is doing with the service (vigil's extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No process; not scheduled to start.
    Down,
    /// Started, waiting for its readiness notification.
    Starting,
    /// Running.
    Up,
    /// Waiting before the next start after quick deaths or a failed start.
    Backoff,
    /// `finish` is running after an exit of `run`.
    Finishing,
    /// Told to stop; waiting for it to exit.
    Stopping,
}

impl State {
    /// The byte stored in the file.
    pub fn code(self) -> u8 {
        match self {
            State::Down => 0,
            State::Starting => 1,
            State::Up => 2,
            State::Backoff => 3,
            State::Finishing => 4,
            State::Stopping => 5,
        }
    }

    /// The state a stored byte stands for.
    pub fn from_code(code: u8) -> Option<State> {
        Some(match code {
            0 => State::Down,
            1 => State::Starting,
            2 => State::Up,
            3 => State::Backoff,
            4 => State::Finishing,
            5 => State::Stopping,
            _ => return None,
        })
    }

    /// The lowercase word `svstat -l` and `--json` print.
    pub fn word(self) -> &'static str {
        match self {
            State::Down => "down",
            State::Starting => "starting",
            State::Up => "up",
            State::Backoff => "backoff",
            State::Finishing => "finishing",
            State::Stopping => "stopping",
        }
    }
}

/// Why supervise is waiting before the next start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffCause {
    /// Not in backoff.
    None,
    /// `run` died within the quick-exit threshold of its start.
    QuickExit,
    /// `run` could not be started (missing, not executable, fork failed).
    StartFailed,
}

impl BackoffCause {
    fn code(self) -> u8 {
        match self {
            BackoffCause::None => 0,
            BackoffCause::QuickExit => 1,
            BackoffCause::StartFailed => 2,
        }
    }

    fn from_code(code: u8) -> Option<BackoffCause> {
        Some(match code {
            0 => BackoffCause::None,
            1 => BackoffCause::QuickExit,
            2 => BackoffCause::StartFailed,
            _ => return None,
        })
    }

    /// The words `svstat -l` and `--json` print.
    pub fn word(self) -> &'static str {
        match self {
            BackoffCause::None => "none",
            BackoffCause::QuickExit => "quick exit",
            BackoffCause::StartFailed => "start failed",
        }
    }
}

/// vigil's fields after daemontools' 18 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// What supervise is doing.
    pub state: State,
    /// Why it is in backoff, if it is.
    pub backoff_cause: BackoffCause,
    /// NEW (byte 25, 0 before): consecutive failures supervise did not ask for (quick exits,
    /// failed starts), the step of the backoff; 255 stands for 255 or more.
    pub failures: u8,
    /// Starts of `run` after the first.
    pub restarts: u32,
    /// Wait status of the last exit of `run`, if it has exited since supervise started.
    pub last_exit: Option<i32>,
    /// When the current backoff ends.
    pub backoff_until: Option<Tai64n>,
    /// When the service became ready, if it is.
    pub ready_at: Option<Tai64n>,
    /// Sequence number of the last event published.
    pub seq: u64,
}

/// A whole status file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// When the pid last changed (started or exited).
    pub when: Tai64n,
    /// The service's pid; 0 when it is not running.
    pub pid: u32,
    /// Whether it was paused with `p` (and not continued).
    pub paused: bool,
    /// The standing wish.
    pub want: Want,
    /// vigil's extension; `None` in a file daemontools' supervise wrote.
    pub ext: Option<Extension>,
}

/// Why a status file did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than daemontools' 18 bytes (svstat's "bad format").
    Short,
    /// The extension is present but malformed (another magic or version, bad values).
    BadExtension,
    /// The extension is cut short: fewer bytes than version 1 or than its byte 21 declares
    /// (a status file of 19 to 83 bytes from a supervise with limits support).
    ShortExtension,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // compat: daemontools' svstat says "bad format" for a short file.
        f.write_str("bad format")
    }
}

impl std::error::Error for DecodeError {}

fn optional_tai(t: Option<Tai64n>) -> [u8; 12] {
    t.map_or([0; 12], |t| t.encode())
}

fn decode_optional_tai(bytes: &[u8]) -> Result<Option<Tai64n>, DecodeError> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    Tai64n::decode(bytes)
        .map(Some)
        .map_err(|_| DecodeError::BadExtension)
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

impl Status {
    /// The bytes of the file: 18, or 66 with the extension.
    pub fn encode(&self) -> Vec<u8> {
        let (bytes, len) = self.encode_fixed();
        bytes[..len].to_vec()
    }

    /// [`Status::encode`] into an array (the bytes and how many are used), with no
    /// allocation: supervise writes its status this way (docs/bench.md, "Memory per
    /// supervise").
    pub fn encode_fixed(&self) -> ([u8; V1_LEN], usize) {
        let mut out = [0u8; V1_LEN];
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            out[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        put(&self.when.encode());
        put(&self.pid.to_le_bytes());
        put(&[u8::from(self.paused && self.pid != 0), self.want.byte()]);
        if let Some(ext) = &self.ext {
            put(MAGIC);
            let flags = u8::from(ext.last_exit.is_some()) | (u8::from(ext.ready_at.is_some()) << 1);
            put(&[
                VERSION,
                (V1_LEN - 22) as u8,
                ext.state.code(),
                flags,
                ext.backoff_cause.code(),
                ext.failures,
            ]);
            put(&ext.restarts.to_le_bytes());
            put(&ext.last_exit.unwrap_or(0).to_le_bytes());
            put(&optional_tai(ext.backoff_until));
            put(&optional_tai(ext.ready_at));
            put(&ext.seq.to_le_bytes());
        }
        (out, len)
    }

    /// The status as supervise writes it: [`Status::encode_fixed`] with the breach record
    /// appended to the extension (bytes 66..84, [`BreachRecord`]); without the extension, the
    /// 18 bytes alone. In an array, no allocation.
    pub fn encode_with_breaches(&self, breaches: &BreachRecord) -> ([u8; RECORD_END], usize) {
        let (encoded, len) = self.encode_fixed();
        let mut out = [0u8; RECORD_END];
        out[..len].copy_from_slice(&encoded[..len]);
        let len = breaches.append_in(&mut out, len);
        (out, len)
    }

    /// What supervise writes: [`Status::encode_with_breaches`], then the identity of the run
    /// (bytes 84..108, [`RunIdentity`]; zeros when there is none). Without the extension, the
    /// 18 bytes alone. In an array, no allocation.
    pub fn encode_with_run(
        &self,
        breaches: &BreachRecord,
        run: Option<&RunIdentity>,
    ) -> ([u8; RUN_END], usize) {
        let (encoded, len) = self.encode_with_breaches(breaches);
        let mut out = [0u8; RUN_END];
        out[..len].copy_from_slice(&encoded[..len]);
        if len != RECORD_END {
            return (out, len);
        }
        if let Some(run) = run {
            out[RECORD_END..RECORD_END + 8].copy_from_slice(&run.start_ticks.to_le_bytes());
            out[RECORD_END + 8..RUN_END].copy_from_slice(&run.boot_id);
        }
        out[DAEMONTOOLS_LEN + 3] = (RUN_END - DAEMONTOOLS_LEN - 4) as u8;
        (out, RUN_END)
    }

    /// Reads a status file's bytes; an 18-byte (daemontools) file has no extension.
    pub fn decode(bytes: &[u8]) -> Result<Status, DecodeError> {
        if bytes.len() < DAEMONTOOLS_LEN {
            return Err(DecodeError::Short);
        }
        // compat: daemontools' svstat takes the seconds and nanoseconds as they are.
        let when = Tai64n {
            secs: u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
            nanos: u32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
        };
        let pid = le_u32(&bytes[12..16]);
        let paused = bytes[16] != 0;
        let want = Want::from_byte(bytes[17]);
        let ext = if bytes.len() == DAEMONTOOLS_LEN {
            None
        } else {
            Some(decode_extension(&bytes[DAEMONTOOLS_LEN..])?)
        };
        Ok(Status {
            when,
            pid,
            paused,
            want,
            ext,
        })
    }
}

fn decode_extension(bytes: &[u8]) -> Result<Extension, DecodeError> {
    let bad = DecodeError::BadExtension;
    // As much of the magic and version as is there must match; what is missing is a cut.
    let head = [MAGIC[0], MAGIC[1], VERSION];
    if bytes.iter().zip(head).any(|(&b, h)| b != h) {
        return Err(bad);
    }
    let declared = bytes.get(3).map(|&n| usize::from(n));
    if declared.is_some_and(|n| n < V1_LEN - 22) {
        return Err(bad);
    }
    let declared = declared.unwrap_or(V1_LEN - 22);
    if bytes.len() < V1_LEN - DAEMONTOOLS_LEN || bytes.len() < 4 + declared {
        return Err(DecodeError::ShortExtension);
    }
    let fields = &bytes[4..];
    let state = State::from_code(fields[0]).ok_or(bad)?;
    let flags = fields[1];
    let backoff_cause = BackoffCause::from_code(fields[2]).ok_or(bad)?;
    let failures = fields[3];
    let restarts = le_u32(&fields[4..8]);
    let exit_status = le_u32(&fields[8..12]) as i32;
    let backoff_until = decode_optional_tai(&fields[12..24])?;
    let ready_at = decode_optional_tai(&fields[24..36])?;
    let seq = u64::from_le_bytes(fields[36..44].try_into().expect("8 bytes"));
    Ok(Extension {
        state,
        backoff_cause,
        failures,
        restarts,
        last_exit: (flags & 1 != 0).then_some(exit_status),
        backoff_until,
        ready_at: if flags & 2 != 0 { ready_at } else { None },
        seq,
    })
}

/// Reads and decodes the status file of `dir` through a buffer on the stack: no allocation,
/// for supervise, which reads it at start-up and otherwise keeps no heap page (docs/bench.md,
/// "Memory per supervise"). `None` if it is missing, unreadable or garbled.
pub fn read_decoded(dir: &OsStr) -> Option<Status> {
    read_previous(dir).map(|(status, _)| status)
}

/// [`read_decoded`], with the identity of the run the file names if it records one (what a
/// new supervise checks before adopting that run).
pub fn read_previous(dir: &OsStr) -> Option<(Status, Option<RunIdentity>)> {
    // daemontools' 18 bytes and an extension whose length is one byte: 277 at most. Read
    // through crate::bounded: a FIFO or a link there (in a `supervise/` others can write) is
    // no status, never a supervise blocked at start-up (issue 12).
    let mut bytes = [0u8; 512];
    let path = paths::under(dir, paths::STATUS);
    let head = crate::bounded::read_head(
        std::path::Path::new(&path),
        crate::bounded::Links::Refuse,
        &mut bytes,
    )
    .ok()??;
    let bytes = &bytes[..head.len];
    Some((Status::decode(bytes).ok()?, RunIdentity::read_from(bytes)))
}

/// Reads `dir/supervise/status` (at most a few hundred bytes).
pub fn read(dir: &OsStr) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(V1_LEN);
    File::open(paths::under(dir, paths::STATUS))?
        .take(4096)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes the status atomically: `supervise/status.new`, then rename over `supervise/status`,
/// so a reader sees the old file or the new one, never half of one. `dir` is the service
/// directory (`.` when the caller has chdir'd into it).
pub fn write(dir: &OsStr, status: &Status) -> io::Result<()> {
    let new = paths::join(dir, paths::STATUS_NEW);
    let mut file = File::create(&new)?;
    file.write_all(&status.encode())?;
    drop(file);
    fs::rename(&new, paths::join(dir, paths::STATUS))
}

/// Which limit was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreachKind {
    /// `max-memory`.
    Memory,
    /// `max-cpu`.
    Cpu,
    /// `max-files`.
    Files,
    /// `max-threads`.
    Threads,
}

impl BreachKind {
    /// The byte in the status file (0 stands for none).
    pub fn code(self) -> u8 {
        match self {
            BreachKind::Memory => 1,
            BreachKind::Cpu => 2,
            BreachKind::Files => 3,
            BreachKind::Threads => 4,
        }
    }

    /// The kind a status byte stands for; `None` for 0 and unknown codes.
    pub fn from_code(code: u8) -> Option<BreachKind> {
        Some(match code {
            1 => BreachKind::Memory,
            2 => BreachKind::Cpu,
            3 => BreachKind::Files,
            4 => BreachKind::Threads,
            _ => return None,
        })
    }

    /// The word `svstat -l`, `--json` and events use.
    pub fn word(self) -> &'static str {
        match self {
            BreachKind::Memory => "memory",
            BreachKind::Cpu => "cpu",
            BreachKind::Files => "files",
            BreachKind::Threads => "threads",
        }
    }
}

/// Where the breach fields start in the status file: right after version 1's fields.
pub const RECORD_AT: usize = V1_LEN;
/// The status file's length with the breach fields.
pub const RECORD_END: usize = RECORD_AT + 18;

/// The breaches of a service, as the status file records them (bytes 66..84, appended to
/// version 1 of the extension by the versioning rule: the length byte grows, older readers
/// skip them):
///
/// | bytes  | field                                                              |
/// |--------|--------------------------------------------------------------------|
/// | 66..70 | number of breaches since supervise started, little-endian          |
/// | 70     | kind of the last breach: 0 none, 1 memory, 2 cpu, 3 files, 4 threads |
/// | 71     | reserved, 0                                                          |
/// | 72..84 | TAI64N of the last breach; all zero when none                        |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BreachRecord {
    /// Breaches since supervise started.
    pub count: u32,
    /// When the last one happened, and which limit it passed.
    pub last: Option<(Tai64n, BreachKind)>,
}

impl BreachRecord {
    /// Counts a breach.
    pub fn add(&mut self, at: Tai64n, kind: BreachKind) {
        self.count = self.count.saturating_add(1);
        self.last = Some((at, kind));
    }

    /// Appends the fields to an encoded version-1 status (`Status::encode` with an extension)
    /// and grows its length byte; a status without the extension is left as it is.
    pub fn append_to(&self, status: &mut Vec<u8>) {
        if status.len() != V1_LEN {
            return;
        }
        let mut bytes = [0u8; RECORD_END];
        bytes[..V1_LEN].copy_from_slice(status);
        let len = self.append_in(&mut bytes, V1_LEN);
        status.clear();
        status.extend_from_slice(&bytes[..len]);
    }

    /// [`BreachRecord::append_to`] in an array: `status` holds an encoded status of `len` bytes
    /// (`Status::encode_fixed`); returns the new length. No allocation: supervise writes its
    /// status this way (docs/bench.md, "Memory per supervise").
    pub fn append_in(&self, status: &mut [u8; RECORD_END], len: usize) -> usize {
        if len != V1_LEN {
            return len;
        }
        let (at, kind) = match self.last {
            Some((at, kind)) => (at.encode(), kind.code()),
            None => ([0; 12], 0),
        };
        status[RECORD_AT..RECORD_AT + 4].copy_from_slice(&self.count.to_le_bytes());
        status[RECORD_AT + 4] = kind;
        status[RECORD_AT + 5] = 0;
        status[RECORD_AT + 6..RECORD_END].copy_from_slice(&at);
        status[DAEMONTOOLS_LEN + 3] = (RECORD_END - DAEMONTOOLS_LEN - 4) as u8;
        RECORD_END
    }

    /// The fields of a status file's bytes; `None` if it has none (daemontools' file, or a
    /// supervise without limits support) or they are malformed.
    pub fn read_from(status: &[u8]) -> Option<BreachRecord> {
        let declared = usize::from(*status.get(DAEMONTOOLS_LEN + 3)?);
        if DAEMONTOOLS_LEN + 4 + declared < RECORD_END || status.len() < RECORD_END {
            return None;
        }
        let fields = &status[RECORD_AT..RECORD_END];
        let count = u32::from_le_bytes(fields[..4].try_into().expect("4 bytes"));
        let last = match fields[4] {
            0 => None,
            code => {
                let kind = BreachKind::from_code(code)?;
                Some((Tai64n::decode(&fields[6..18]).ok()?, kind))
            }
        };
        Some(BreachRecord { count, last })
    }
}

/// The status file's length with the run's identity.
pub const RUN_END: usize = RECORD_END + 24;

/// Who the run is, beyond its pid (bytes 84..108, appended after the breach record by the
/// versioning rule): what a new supervise compares with `/proc/PID` before it adopts the run a
/// killed one left. A pid alone may have been reused; a pid with the kernel's start time of
/// the process, in the same boot, cannot be (neither survives a reboot, and no two processes
/// of one boot share both). Unlike the working directory, which the daemon may change (`cd /`),
/// neither can be lost or faked by the process.
///
/// | bytes   | field                                                             |
/// |---------|-------------------------------------------------------------------|
/// | 84..92  | start time of the run: field 22 of `/proc/PID/stat`, clock ticks    |
/// |         | since boot, little-endian                                          |
/// | 92..108 | the boot's id, `/proc/sys/kernel/random/boot_id` as 16 bytes; all   |
/// |         | zero (with the start time) when no run is recorded                 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunIdentity {
    /// When the process started, in clock ticks since boot.
    pub start_ticks: u64,
    /// The boot it started in (never all zero: a random UUID).
    pub boot_id: [u8; 16],
}

impl RunIdentity {
    /// The identity in a status file's bytes; `None` if there is none (a daemontools file, a
    /// vigil supervise from before the record, no run, or a boot id of zeros).
    pub fn read_from(status: &[u8]) -> Option<RunIdentity> {
        let declared = usize::from(*status.get(DAEMONTOOLS_LEN + 3)?);
        if DAEMONTOOLS_LEN + 4 + declared < RUN_END || status.len() < RUN_END {
            return None;
        }
        let start_ticks = u64::from_le_bytes(
            status[RECORD_END..RECORD_END + 8]
                .try_into()
                .expect("8 bytes"),
        );
        let boot_id: [u8; 16] = status[RECORD_END + 8..RUN_END]
            .try_into()
            .expect("16 bytes");
        (boot_id != [0; 16]).then_some(RunIdentity {
            start_ticks,
            boot_id,
        })
    }

    /// The 16 bytes of a boot id as `/proc/sys/kernel/random/boot_id` gives it (a UUID: 32 hex
    /// digits with dashes, then a newline); `None` for anything else or all zeros.
    ///
    /// ```
    /// let id = vigil_proto::status::RunIdentity::parse_boot_id(
    ///     b"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n",
    /// );
    /// assert_eq!(id.map(|b| b[0]), Some(0x0f));
    /// ```
    pub fn parse_boot_id(text: &[u8]) -> Option<[u8; 16]> {
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let mut out = [0u8; 16];
        let mut digits = 0;
        for &b in text {
            let value = match b {
                b'-' => continue,
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return None,
            };
            if digits == 32 {
                return None;
            }
            out[digits / 2] |= value << (4 * (1 - digits % 2));
            digits += 1;
        }
        (digits == 32 && out != [0; 16]).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Status {
        Status {
            when: Tai64n::from_unix(1_700_000_000, 5),
            pid: 0x0102_0304,
            paused: true,
            want: Want::Down,
            ext: Some(Extension {
                state: State::Backoff,
                backoff_cause: BackoffCause::QuickExit,
                failures: 3,
                restarts: 7,
                last_exit: Some(256),
                backoff_until: Some(Tai64n::from_unix(1_700_000_004, 0)),
                ready_at: None,
                seq: 42,
            }),
        }
    }

    #[test]
    fn daemontools_prefix_is_exact() {
        let bytes = sample().encode();
        assert_eq!(bytes.len(), V1_LEN);
        assert_eq!(&bytes[12..16], &[4, 3, 2, 1]);
        assert_eq!(bytes[16], 1);
        assert_eq!(bytes[17], b'd');
        assert_eq!(&bytes[18..21], b"vg\x01");
        assert_eq!((bytes[24], bytes[25]), (1, 3), "cause, failures");
    }

    #[test]
    fn read_decoded_gives_what_write_wrote() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("supervise")).expect("mkdir");
        let os = dir.path().as_os_str();
        assert_eq!(read_decoded(os), None);
        write(os, &sample()).expect("write");
        assert_eq!(read_decoded(os), Some(sample()));
        std::fs::write(dir.path().join(paths::STATUS), b"short").expect("garble");
        assert_eq!(read_decoded(os), None);
    }

    #[test]
    fn paused_is_only_set_with_a_pid() {
        let mut s = sample();
        s.pid = 0;
        assert_eq!(s.encode()[16], 0);
    }

    #[test]
    fn daemontools_file_has_no_extension() {
        let mut s = sample();
        s.ext = None;
        let bytes = s.encode();
        assert_eq!(bytes.len(), 18);
        assert_eq!(Status::decode(&bytes), Ok(s));
    }

    #[test]
    fn longer_newer_extension_is_read() {
        let mut bytes = sample().encode();
        bytes[21] += 3;
        bytes.extend_from_slice(&[9, 9, 9]);
        assert_eq!(Status::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn cut_extension_is_short_and_garbage_is_bad() {
        let bytes = sample().encode();
        for len in 19..V1_LEN {
            assert_eq!(
                Status::decode(&bytes[..len]),
                Err(DecodeError::ShortExtension),
                "{len}"
            );
        }
        let mut other = bytes.clone();
        other[20] = 2;
        assert_eq!(Status::decode(&other), Err(DecodeError::BadExtension));
        assert_eq!(Status::decode(&other[..21]), Err(DecodeError::BadExtension));
        other[18] = b'x';
        assert_eq!(Status::decode(&other[..19]), Err(DecodeError::BadExtension));
        let mut small = bytes;
        small[21] = 10;
        assert_eq!(Status::decode(&small), Err(DecodeError::BadExtension));
    }

    #[test]
    fn short_file_is_bad_format() {
        assert_eq!(Status::decode(&[0; 17]), Err(DecodeError::Short));
        assert_eq!(DecodeError::Short.to_string(), "bad format");
    }

    proptest! {
        #[test]
        fn round_trip(secs in 0u64..1 << 40, nanos in 0u32..1_000_000_000, pid in 1u32..,
                      paused: bool, want in 0usize..3, state in 0u8..6, cause in 0u8..3,
                      restarts: u32, failures: u8, exit: Option<i32>, seq: u64, until in proptest::option::of(0u64..1 << 40),
                      ready in proptest::option::of(0u64..1 << 40)) {
            let s = Status {
                when: Tai64n::from_unix(secs, nanos),
                pid,
                paused,
                want: [Want::Up, Want::Down, Want::Nothing][want],
                ext: Some(Extension {
                    state: State::from_code(state).unwrap(),
                    backoff_cause: BackoffCause::from_code(cause).unwrap(),
                    failures,
                    restarts,
                    last_exit: exit,
                    backoff_until: until.map(|u| Tai64n::from_unix(u, 0)),
                    ready_at: ready.map(|r| Tai64n::from_unix(r, 1)),
                    seq,
                }),
            };
            prop_assert_eq!(Status::decode(&s.encode()), Ok(s));
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Status::decode(&bytes);
        }
    }

    #[test]
    fn record_appends_to_a_v1_status_and_reads_back() {
        let status = Status {
            when: Tai64n::from_unix(1_700_000_000, 0),
            pid: 42,
            paused: false,
            want: Want::Up,
            ext: Some(Extension {
                state: State::Up,
                backoff_cause: BackoffCause::None,
                failures: 0,
                restarts: 3,
                last_exit: None,
                backoff_until: None,
                ready_at: None,
                seq: 9,
            }),
        };
        let mut bytes = status.encode();
        assert_eq!(BreachRecord::read_from(&bytes), None);
        let mut record = BreachRecord::default();
        record.add(Tai64n::from_unix(1_700_000_100, 5), BreachKind::Cpu);
        record.add(Tai64n::from_unix(1_700_000_200, 7), BreachKind::Memory);
        record.append_to(&mut bytes);
        assert_eq!(bytes.len(), RECORD_END);
        // Readers of version 1 skip the new fields.
        assert_eq!(Status::decode(&bytes), Ok(status));
        assert_eq!(BreachRecord::read_from(&bytes), Some(record));
        assert_eq!(record.count, 2);
        assert_eq!(bytes[70], BreachKind::Memory.code());
        // No breach yet: zeros, read back as none.
        let mut bytes = status.encode();
        BreachRecord::default().append_to(&mut bytes);
        assert_eq!(
            BreachRecord::read_from(&bytes),
            Some(BreachRecord::default())
        );
        // A daemontools file is left alone.
        let mut short = status.encode()[..18].to_vec();
        BreachRecord::default().append_to(&mut short);
        assert_eq!(short.len(), 18);
        assert_eq!(BreachRecord::read_from(&short), None);
        // What supervise writes: the same bytes from one call, in an array.
        let (fixed, len) = status.encode_with_breaches(&record);
        let mut appended = status.encode();
        record.append_to(&mut appended);
        assert_eq!(&fixed[..len], &appended[..]);
        let daemontools = Status {
            ext: None,
            ..status
        };
        let (fixed, len) = daemontools.encode_with_breaches(&record);
        assert_eq!(&fixed[..len], &daemontools.encode()[..]);
    }

    #[test]
    fn run_identity_appends_after_the_breaches_and_reads_back() {
        let mut status = sample();
        status.pid = 42;
        let mut record = BreachRecord::default();
        record.add(Tai64n::from_unix(1_700_000_100, 5), BreachKind::Cpu);
        let id = RunIdentity {
            start_ticks: 0x0102_0304_0506,
            boot_id: [7; 16],
        };
        let (bytes, len) = status.encode_with_run(&record, Some(&id));
        let bytes = &bytes[..len];
        assert_eq!(len, RUN_END);
        assert_eq!(bytes[21] as usize, RUN_END - 22);
        // Older readers see the same status and breaches; daemontools' 18 bytes are unchanged.
        assert_eq!(Status::decode(bytes), Ok(status));
        assert_eq!(BreachRecord::read_from(bytes), Some(record));
        assert_eq!(&bytes[..18], &status.encode()[..18]);
        assert_eq!(RunIdentity::read_from(bytes), Some(id));
        assert_eq!(&bytes[84..92], &0x0102_0304_0506u64.to_le_bytes());
        // No run: zeros, read as none.
        let (bytes, len) = status.encode_with_run(&record, None);
        assert_eq!(len, RUN_END);
        assert_eq!(RunIdentity::read_from(&bytes[..len]), None);
        assert!(bytes[84..RUN_END].iter().all(|&b| b == 0));
        // Written before the record (84 bytes), or cut: none.
        let (older, older_len) = status.encode_with_breaches(&record);
        assert_eq!(RunIdentity::read_from(&older[..older_len]), None);
        let (bytes, _) = status.encode_with_run(&record, Some(&id));
        assert_eq!(RunIdentity::read_from(&bytes[..RUN_END - 1]), None);
        // daemontools' file stays 18 bytes.
        let daemontools = Status {
            ext: None,
            ..status
        };
        let (bytes, len) = daemontools.encode_with_run(&record, Some(&id));
        assert_eq!(&bytes[..len], &daemontools.encode()[..]);
        assert_eq!(RunIdentity::read_from(&bytes[..len]), None);
    }

    #[test]
    fn read_previous_gives_the_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("supervise")).expect("mkdir");
        let id = RunIdentity {
            start_ticks: 99,
            boot_id: [1; 16],
        };
        let (bytes, len) = sample().encode_with_run(&BreachRecord::default(), Some(&id));
        std::fs::write(dir.path().join(paths::STATUS), &bytes[..len]).expect("write");
        let os = dir.path().as_os_str();
        assert_eq!(read_previous(os), Some((sample(), Some(id))));
        assert_eq!(read_decoded(os), Some(sample()));
    }

    #[test]
    fn boot_ids_parse_as_uuids() {
        let id = RunIdentity::parse_boot_id(b"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n");
        assert_eq!(
            id,
            Some([
                0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2,
                0xe1, 0xf0
            ])
        );
        for bad in [
            &b""[..],
            b"0f1e2d3c",
            b"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0ff",
            b"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg",
            b"00000000-0000-0000-0000-000000000000",
        ] {
            assert_eq!(RunIdentity::parse_boot_id(bad), None);
        }
    }

    proptest! {
        #[test]
        fn any_bytes_give_an_identity_or_none_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..140)) {
            let _ = RunIdentity::read_from(&bytes);
            let _ = RunIdentity::parse_boot_id(&bytes);
        }
    }

    #[test]
    fn kind_codes_round_trip() {
        for kind in [
            BreachKind::Memory,
            BreachKind::Cpu,
            BreachKind::Files,
            BreachKind::Threads,
        ] {
            assert_eq!(BreachKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(BreachKind::from_code(0), None);
    }
}

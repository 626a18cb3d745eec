//! `supervise/events`: the bounded journal of the last [`SLOTS`] events of a service.
//!
//! NEW: s6's FIFOs keep nothing for a late reader and supervisord drops events when a listener
//! lags; vigil's supervise also records every event here, with a per-service sequence number,
//! so a consumer that was away replays what it missed (`svwatch --since SEQ`).
//!
//! The file is a ring of [`SLOTS`] fixed-size records of [`RECORD_LEN`] bytes; the event with
//! sequence number `n` (from 1) lives in slot `n % SLOTS`, at byte `(n % SLOTS) * RECORD_LEN`.
//! A record (integers little-endian):
//!
//! | bytes  | field                                                                |
//! |--------|----------------------------------------------------------------------|
//! | 0..2   | magic `VE`                                                           |
//! | 2      | record version, 1                                                    |
//! | 3      | the event letter ([`crate::event`])                                  |
//! | 4      | flags: bit 0 a wait status is present, bit 1 a backoff end is present, |
//! |        | bit 2 a limit is present                                             |
//! | 5      | cause ([`Cause`]): why a `d` or `b` happened, 0 for the other letters |
//! | 6..8   | reserved, 0                                                          |
//! | 8..16  | sequence number, from 1, one more per event of this service          |
//! | 16..28 | TAI64N time of the event                                             |
//! | 28..32 | pid (see the event table), 0 when none                               |
//! | 32..36 | wait status as waitpid gives it (`d`, `f`, `D` after a finish)        |
//! | 36..48 | TAI64N end of the backoff (`b`), else zero                           |
//! | 48     | the limit passed (`l`, flag bit 2): [`BreachKind::code`], else 0      |
//! | 49..52 | reserved, 0                                                          |
//! | 52..60 | the value measured (`l`), in the limit's unit (bytes, percent, count) |
//! | 60..64 | FNV-1a (32 bit) of bytes 0..60                                       |
//!
//! A reader never sees a torn record: supervise writes each record with one `pwrite` of 64 bytes
//! at a 64-byte boundary (never across a page), a reader checks magic, checksum and that the
//! sequence number belongs in its slot, re-reads a record that fails once, and then skips it.
//! supervise writes the record before it writes the letter into the FIFOs, so a woken
//! subscriber always finds it. A new supervise continues after the highest sequence number in
//! the file. The journal is not fsync'd: it survives supervise restarts, not a machine crash.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use crate::event::Event;
use crate::paths;
use crate::status::BreachKind;
use crate::tai::Tai64n;

/// The journal's path in the service directory.
pub const EVENTS: &str = "supervise/events";
/// Records kept: the journal's bound.
pub const SLOTS: u64 = 256;
/// Bytes per record.
pub const RECORD_LEN: usize = 64;
/// Bytes of a full journal.
pub const FILE_LEN: usize = SLOTS as usize * RECORD_LEN;
const MAGIC: &[u8; 2] = b"VE";
const VERSION: u8 = 1;

/// One journal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Per-service sequence number, from 1.
    pub seq: u64,
    /// The event's letter (kept raw so a newer supervise's letters pass through).
    pub letter: u8,
    /// When it happened.
    pub time: Tai64n,
    /// The pid the event is about, 0 when none.
    pub pid: u32,
    /// The wait status of an exit, where there is one.
    pub status: Option<i32>,
    /// When a backoff ends (`b`).
    pub until: Option<Tai64n>,
    /// The limit passed and the value measured (`l`).
    pub limit: Option<Limit>,
    /// Why a `d` or a `b` happened ([`Cause::None`] for the other letters).
    pub cause: Cause,
}

/// Why a run ended (`d`) or a start is delayed (`b`), as supervise knew it: byte 5 of a
/// record. What supervisord's listeners need to tell a crash from a stop (`expected`) and a
/// crash loop from a program that cannot start (BACKOFF, FATAL; docs/listen.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// 0: nothing to say: a letter other than `d` and `b`, a `d` of a run that ended on its own
    /// while wanted up, or a record written before this byte was used (it was reserved, 0).
    None,
    /// 1 (`d`): supervise was stopping the run (`svc -d`, or supervise told to exit by a
    /// signal): the run was asked to end.
    Stopped,
    /// 2 (`d`): the run ended on its own while not wanted up (started with `svc -o`).
    Unwanted,
    /// 3 (`b`): the run died within the quick-exit threshold of its start.
    QuickExit,
    /// 4 (`b`): the run could not be started at all (missing, not executable, exec failed).
    StartFailed,
}

impl Cause {
    /// The byte stored in a record.
    pub fn code(self) -> u8 {
        match self {
            Cause::None => 0,
            Cause::Stopped => 1,
            Cause::Unwanted => 2,
            Cause::QuickExit => 3,
            Cause::StartFailed => 4,
        }
    }

    /// The cause a stored byte stands for; an unknown byte (a newer supervise's) reads as
    /// [`Cause::None`].
    pub fn from_code(code: u8) -> Cause {
        match code {
            1 => Cause::Stopped,
            2 => Cause::Unwanted,
            3 => Cause::QuickExit,
            4 => Cause::StartFailed,
            _ => Cause::None,
        }
    }
}

/// A limit an `l` event passed: which, and what was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Which limit file (`max-memory` ...).
    pub kind: BreachKind,
    /// What the sample measured, in the limit's unit: bytes (memory), percent of one core
    /// (cpu, the mean over its window), open files or threads (a count).
    pub value: u64,
}

/// Why a record did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than [`RECORD_LEN`] bytes.
    Short,
    /// An empty slot (all zero).
    Empty,
    /// Wrong magic or version, bad checksum, bad time: being written, or garbage.
    Bad,
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

impl Record {
    /// A record of `event` now, not yet numbered (the journal numbers it).
    pub fn new(event: Event, pid: u32) -> Record {
        Record {
            seq: 0,
            letter: event.letter(),
            time: Tai64n::now(),
            pid,
            status: None,
            until: None,
            cause: Cause::None,
            limit: None,
        }
    }

    /// The event, if this version knows the letter.
    pub fn event(&self) -> Option<Event> {
        Event::from_letter(self.letter)
    }

    /// The record's 64 bytes.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..2].copy_from_slice(MAGIC);
        out[2] = VERSION;
        out[3] = self.letter;
        out[4] = u8::from(self.status.is_some())
            | (u8::from(self.until.is_some()) << 1)
            | (u8::from(self.limit.is_some()) << 2);
        out[5] = self.cause.code();
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..28].copy_from_slice(&self.time.encode());
        out[28..32].copy_from_slice(&self.pid.to_le_bytes());
        out[32..36].copy_from_slice(&self.status.unwrap_or(0).to_le_bytes());
        if let Some(until) = self.until {
            out[36..48].copy_from_slice(&until.encode());
        }
        if let Some(limit) = self.limit {
            out[48] = limit.kind.code();
            out[52..60].copy_from_slice(&limit.value.to_le_bytes());
        }
        let sum = fnv1a(&out[..60]);
        out[60..].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads one record; anything but a whole, checked record is an error.
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        let bytes = bytes.get(..RECORD_LEN).ok_or(DecodeError::Short)?;
        if bytes.iter().all(|&b| b == 0) {
            return Err(DecodeError::Empty);
        }
        if &bytes[..2] != MAGIC
            || bytes[2] != VERSION
            || fnv1a(&bytes[..60]) != le_u32(&bytes[60..])
        {
            return Err(DecodeError::Bad);
        }
        let flags = bytes[4];
        let time = Tai64n::decode(&bytes[16..28]).map_err(|_| DecodeError::Bad)?;
        let until = if flags & 2 != 0 {
            Some(Tai64n::decode(&bytes[36..48]).map_err(|_| DecodeError::Bad)?)
        } else {
            None
        };
        // A kind this version does not know (a newer supervise's) is left out.
        let limit = match BreachKind::from_code(bytes[48]) {
            Some(kind) if flags & 4 != 0 => Some(Limit {
                kind,
                value: u64::from_le_bytes(bytes[52..60].try_into().expect("8 bytes")),
            }),
            Some(_) | None => None,
        };
        Ok(Record {
            seq: u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
            letter: bytes[3],
            time,
            pid: le_u32(&bytes[28..32]),
            status: (flags & 1 != 0).then_some(le_u32(&bytes[32..36]) as i32),
            until,
            cause: Cause::from_code(bytes[5]),
            limit,
        })
    }
}

fn slot_offset(seq: u64) -> u64 {
    (seq % SLOTS) * RECORD_LEN as u64
}

/// The highest sequence number supervise counts to. Counting from 1 at a million events a
/// second, it takes 292,000 years to get here, so the 64-bit numbers never wrap in practice;
/// a journal that holds one this high was written by something else (a crafted or corrupted
/// file), and supervise starts the journal anew at 1 (docs/events.md, issue #12).
pub const SEQ_LIMIT: u64 = 1 << 63;

/// supervise's side: the open journal and the next sequence number.
#[derive(Debug)]
pub struct Journal {
    file: File,
    last_seq: u64,
}

impl Journal {
    /// Opens (creating, mode 0644) `dir/supervise/events` and continues after its highest
    /// sequence number. `dir` is the service directory (`.` once supervise is in it).
    pub fn open(dir: &OsStr) -> io::Result<Journal> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(paths::under(dir, EVENTS))?;
        let mut last_seq = highest_seq(&file)?;
        if last_seq >= SEQ_LIMIT {
            // Numbers this high cannot come from counting (see SEQ_LIMIT): the journal is
            // garbage. Empty it and count from 1 again; a reader sees the numbers go back and
            // starts over, as after a new supervise/ directory.
            file.set_len(0)?;
            last_seq = 0;
        }
        Ok(Journal { file, last_seq })
    }

    /// The sequence number of the last event recorded (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Numbers `record` with the next sequence number and writes it into its slot; returns
    /// the number. The number is used even if the write fails (the caller warns and goes
    /// on), so sequence numbers never repeat; readers see the gap.
    pub fn append(&mut self, mut record: Record) -> (u64, io::Result<()>) {
        record.seq = self.last_seq + 1;
        (record.seq, self.write(&record))
    }

    /// Writes a record numbered by the caller into its slot (one `pwrite`).
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        self.last_seq = self.last_seq.max(record.seq);
        self.file
            .write_all_at(&record.encode(), slot_offset(record.seq))
    }
}

/// The highest valid sequence number in the journal, read 16 records at a time into a stack
/// buffer: supervise keeps no 16 KiB heap block resident for this one look at start.
fn highest_seq(file: &File) -> io::Result<u64> {
    let mut chunk = [0u8; 16 * RECORD_LEN];
    let mut highest = 0;
    let mut offset = 0u64;
    while offset < FILE_LEN as u64 {
        let n = match file.read_at(&mut chunk, offset) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // A short read ends at the file's end; only whole records count.
        for (i, bytes) in chunk[..n].chunks_exact(RECORD_LEN).enumerate() {
            let slot = offset / RECORD_LEN as u64 + i as u64;
            if let Some(r) = in_slot(bytes, slot) {
                highest = highest.max(r.seq);
            }
        }
        offset += (n - n % RECORD_LEN).max(RECORD_LEN) as u64;
    }
    Ok(highest)
}

fn read_file(file: &File) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; FILE_LEN];
    let mut filled = 0;
    while filled < FILE_LEN {
        match file.read_at(&mut bytes[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(bytes)
}

/// The record in `bytes` if it is valid and its number belongs in `slot`.
fn in_slot(bytes: &[u8], slot: u64) -> Option<Record> {
    Record::decode(bytes)
        .ok()
        .filter(|r| r.seq != 0 && r.seq % SLOTS == slot)
}

/// Valid records of a journal's bytes whose sequence number belongs in their slot, sorted.
fn decode_all(bytes: &[u8]) -> Vec<Record> {
    let mut records: Vec<Record> = bytes
        .chunks_exact(RECORD_LEN)
        .enumerate()
        .filter_map(|(slot, chunk)| in_slot(chunk, slot as u64))
        .collect();
    records.sort_by_key(|r| r.seq);
    records
}

/// What a reader found after a given sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// Records after the given number, oldest first.
    pub records: Vec<Record>,
    /// Sequence numbers that were wanted but are no longer kept (or were never written):
    /// `(first, last)`, inclusive.
    pub lost: Option<(u64, u64)>,
    /// The highest sequence number in the journal (0 when empty).
    pub last_seq: u64,
}

/// Every record kept in `dir/supervise/events`, oldest first. A missing journal reads as
/// empty (a supervise without journal, or none yet).
pub fn read(dir: &OsStr) -> io::Result<Vec<Record>> {
    let file = match File::open(paths::join(dir, EVENTS)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut bytes = read_file(&file)?;
    // A record being written as we read fails its checksum: read that slot once more.
    for (slot, chunk) in bytes.chunks_exact_mut(RECORD_LEN).enumerate() {
        if Record::decode(chunk) == Err(DecodeError::Bad) {
            let _ = file.read_exact_at(chunk, (slot * RECORD_LEN) as u64);
        }
    }
    Ok(decode_all(&bytes))
}

/// The records after sequence number `after`, and what was lost between.
pub fn read_since(dir: &OsStr, after: u64) -> io::Result<Since> {
    Ok(since(read(dir)?, after))
}

/// Selects from `records` (sorted) those after `after` and names the gap before them.
pub fn since(records: Vec<Record>, after: u64) -> Since {
    let last_seq = records.last().map_or(0, |r| r.seq);
    let records: Vec<Record> = records.into_iter().filter(|r| r.seq > after).collect();
    let lost = match records.first() {
        Some(first) if first.seq > after.saturating_add(1) => Some((after + 1, first.seq - 1)),
        _ => None,
    };
    Since {
        records,
        lost,
        last_seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(seq: u64) -> Record {
        Record {
            seq,
            letter: b'd',
            time: Tai64n::from_unix(1_700_000_000, 7),
            pid: 1234,
            status: Some(256),
            until: None,
            cause: Cause::Stopped,
            limit: None,
        }
    }

    #[test]
    fn a_limit_goes_in_bytes_48_to_60_with_flag_bit_2() {
        let mut r = sample(3);
        r.letter = b'l';
        r.status = None;
        r.cause = Cause::None;
        r.limit = Some(Limit {
            kind: BreachKind::Cpu,
            value: 250,
        });
        let bytes = r.encode();
        assert_eq!(bytes[4], 4);
        assert_eq!(bytes[48], 2);
        assert_eq!(&bytes[49..52], &[0, 0, 0]);
        assert_eq!(&bytes[52..60], &250u64.to_le_bytes());
        assert_eq!(Record::decode(&bytes), Ok(r));
        // Bytes 5..8 stay free for others (the cause byte).
        assert_eq!(&bytes[5..8], &[0, 0, 0]);
    }

    fn temp_service() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("supervise")).expect("mkdir");
        dir
    }

    #[test]
    fn record_layout_is_as_documented() {
        let bytes = sample(5).encode();
        assert_eq!(&bytes[..4], b"VE\x01d");
        assert_eq!(bytes[4], 1);
        assert_eq!(bytes[5], 1);
        assert_eq!(&bytes[6..8], &[0, 0]);
        assert_eq!(&bytes[8..16], &5u64.to_le_bytes());
        assert_eq!(&bytes[28..32], &1234u32.to_le_bytes());
        assert_eq!(&bytes[32..36], &256i32.to_le_bytes());
        assert_eq!(&bytes[36..60], &[0; 24]);
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        let mut bytes = sample(1).encode();
        bytes[30] ^= 1;
        assert_eq!(Record::decode(&bytes), Err(DecodeError::Bad));
        assert_eq!(Record::decode(&[0; 64]), Err(DecodeError::Empty));
        assert_eq!(Record::decode(&[0; 63]), Err(DecodeError::Short));
    }

    #[test]
    fn journal_keeps_the_last_slots_and_continues_numbering() {
        let dir = temp_service();
        let os = dir.path().as_os_str();
        let mut journal = Journal::open(os).expect("open");
        for i in 0..SLOTS + 10 {
            let (seq, written) = journal.append(Record::new(Event::Up, i as u32));
            written.expect("write");
            assert_eq!(seq, i + 1);
        }
        let records = read(os).expect("read");
        assert_eq!(records.len(), SLOTS as usize);
        assert_eq!(records.first().map(|r| r.seq), Some(11));
        assert_eq!(records.last().map(|r| r.seq), Some(SLOTS + 10));
        let file_len = std::fs::metadata(dir.path().join(EVENTS))
            .expect("stat")
            .len();
        assert_eq!(file_len, FILE_LEN as u64);
        // A new supervise continues after the highest number.
        drop(journal);
        let mut again = Journal::open(os).expect("reopen");
        assert_eq!(again.last_seq(), SLOTS + 10);
        assert_eq!(again.append(Record::new(Event::Start, 1)).0, SLOTS + 11);
    }

    #[test]
    fn since_at_the_top_of_the_numbers_does_not_overflow() {
        let records: Vec<Record> = [u64::MAX - 1, u64::MAX].into_iter().map(sample).collect();
        assert!(since(records.clone(), u64::MAX).records.is_empty());
        assert_eq!(since(records, u64::MAX - 1).records.len(), 1);
    }

    #[test]
    fn since_reports_what_was_lost() {
        let records: Vec<Record> = (20..25).map(sample).collect();
        let s = since(records.clone(), 10);
        assert_eq!(s.lost, Some((11, 19)));
        assert_eq!(s.records.len(), 5);
        assert_eq!(s.last_seq, 24);
        let s = since(records.clone(), 21);
        assert_eq!(s.lost, None);
        assert_eq!(
            s.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [22, 23, 24]
        );
        assert!(since(records, 24).records.is_empty());
    }

    #[test]
    fn missing_journal_reads_empty_and_torn_record_is_skipped() {
        let dir = temp_service();
        let os = dir.path().as_os_str();
        assert_eq!(read(os).expect("read"), Vec::new());
        let mut journal = Journal::open(os).expect("open");
        journal.append(sample(0)).1.expect("write");
        journal.append(sample(0)).1.expect("write");
        // Half of a newer record over slot 2: a write caught in the middle.
        let mut torn = sample(2 + SLOTS).encode();
        torn[32..].copy_from_slice(&[0xee; 32]);
        journal
            .file
            .write_all_at(&torn, slot_offset(2))
            .expect("write");
        let seqs: Vec<u64> = read(os).expect("read").iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1]);
    }

    proptest! {
        #[test]
        fn round_trip(seq in 1u64.., letter: u8, secs in 0u64..1 << 40, nanos in 0u32..1_000_000_000,
                      pid: u32, status: Option<i32>, until in proptest::option::of(0u64..1 << 40),
                      limit in proptest::option::of((1u8..5, any::<u64>())), cause in 0u8..5) {
            let r = Record {
                seq, letter, time: Tai64n::from_unix(secs, nanos), pid, status,
                until: until.map(|u| Tai64n::from_unix(u, 0)),
                limit: limit.map(|(code, value)| Limit {
                    kind: BreachKind::from_code(code).expect("a kind"),
                    value,
                }),
                cause: Cause::from_code(cause),
            };
            prop_assert_eq!(Record::decode(&r.encode()), Ok(r));
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Record::decode(&bytes);
            let _ = decode_all(&bytes);
        }
    }
}

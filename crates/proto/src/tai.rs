//! TAI64N labels: the timestamps daemontools writes into `supervise/status` and multilog lines.
//!
//! A label is 8 bytes of TAI64 seconds (2^62 + 10 + unix seconds: daemontools counts the 10 s
//! TAI-UTC offset of 1970 and no leap seconds since) and 4 bytes of nanoseconds, big-endian.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2^62 + 10: the TAI64 label of the unix epoch as daemontools computes it (tai_unix).
pub const UNIX_EPOCH_LABEL: u64 = (1 << 62) + 10;

/// A TAI64N moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tai64n {
    /// TAI64 seconds label.
    pub secs: u64,
    /// Nanoseconds within the second, below 10^9.
    pub nanos: u32,
}

/// Why a TAI64N label did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaiError {
    /// Fewer bytes or hex digits than a label has.
    Short,
    /// A byte that is not a hex digit, or nanoseconds of 10^9 or more.
    Invalid,
}

impl Tai64n {
    /// The all-zero label: "no time" in vigil's status extension.
    pub const ZERO: Tai64n = Tai64n { secs: 0, nanos: 0 };

    /// The current wall-clock time.
    pub fn now() -> Tai64n {
        Tai64n::from_system(SystemTime::now())
    }

    /// The label of a wall-clock time (times before 1970 clamp to the epoch).
    pub fn from_system(time: SystemTime) -> Tai64n {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        Tai64n::from_unix(since.as_secs(), since.subsec_nanos())
    }

    /// The label of unix seconds and nanoseconds.
    pub fn from_unix(secs: u64, nanos: u32) -> Tai64n {
        Tai64n {
            secs: UNIX_EPOCH_LABEL.wrapping_add(secs),
            nanos,
        }
    }

    /// Unix seconds of this label (saturating at 0 for labels before the epoch).
    pub fn unix_secs(&self) -> u64 {
        self.secs.saturating_sub(UNIX_EPOCH_LABEL)
    }

    /// The wall-clock time of this label.
    ///
    /// Saturates at the latest time `SystemTime` holds: a label read from a file may say
    /// anything, and reading it must not panic (issue #12).
    pub fn to_system(&self) -> SystemTime {
        let since = Duration::new(self.unix_secs(), self.nanos.min(999_999_999));
        UNIX_EPOCH
            .checked_add(since)
            .or_else(|| UNIX_EPOCH.checked_add(Duration::from_secs(i64::MAX as u64)))
            .unwrap_or(UNIX_EPOCH)
    }

    /// The label `d` later.
    pub fn add(&self, d: Duration) -> Tai64n {
        let mut secs = self.secs.saturating_add(d.as_secs());
        // A label read from a file may carry nanoseconds beyond 10^9: they count as 999999999.
        let mut nanos = self.nanos.min(999_999_999) + d.subsec_nanos();
        if nanos >= 1_000_000_000 {
            nanos -= 1_000_000_000;
            secs = secs.saturating_add(1);
        }
        Tai64n { secs, nanos }
    }

    /// Whole seconds from `self` to `later`, 0 if `later` is earlier (svstat's tai_approx of
    /// now - when, with a clock that went back counted as 0).
    pub fn secs_until(&self, later: &Tai64n) -> u64 {
        later.secs.saturating_sub(self.secs)
    }

    /// The 12 packed bytes.
    pub fn encode(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..8].copy_from_slice(&self.secs.to_be_bytes());
        out[8..].copy_from_slice(&self.nanos.to_be_bytes());
        out
    }

    /// Reads 12 packed bytes (more are ignored).
    pub fn decode(bytes: &[u8]) -> Result<Tai64n, TaiError> {
        let secs: [u8; 8] = bytes
            .get(..8)
            .ok_or(TaiError::Short)?
            .try_into()
            .expect("8 bytes");
        let nanos: [u8; 4] = bytes
            .get(8..12)
            .ok_or(TaiError::Short)?
            .try_into()
            .expect("4 bytes");
        let nanos = u32::from_be_bytes(nanos);
        if nanos >= 1_000_000_000 {
            return Err(TaiError::Invalid);
        }
        Ok(Tai64n {
            secs: u64::from_be_bytes(secs),
            nanos,
        })
    }

    /// The external form multilog and tai64n write: `@` and 24 lowercase hex digits.
    pub fn to_hex(&self) -> [u8; 25] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'@'; 25];
        for (i, byte) in self.encode().iter().enumerate() {
            out[1 + 2 * i] = HEX[usize::from(byte >> 4)];
            out[2 + 2 * i] = HEX[usize::from(byte & 15)];
        }
        out
    }

    /// Parses 24 hex digits (without the `@`; more bytes are ignored).
    pub fn from_hex(digits: &[u8]) -> Result<Tai64n, TaiError> {
        let digits = digits.get(..24).ok_or(TaiError::Short)?;
        let mut packed = [0u8; 12];
        for (i, pair) in digits.chunks(2).enumerate() {
            packed[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Tai64n::decode(&packed)
    }
}

fn hex_value(digit: u8) -> Result<u8, TaiError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Ok(digit - b'A' + 10),
        _ => Err(TaiError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_label_matches_daemontools() {
        let t = Tai64n::from_unix(0, 0);
        assert_eq!(&t.to_hex()[..], b"@400000000000000a00000000");
    }

    #[test]
    fn hex_and_packed_round_trip() {
        let t = Tai64n::from_unix(1_700_000_000, 123_456_789);
        assert_eq!(Tai64n::decode(&t.encode()), Ok(t));
        assert_eq!(Tai64n::from_hex(&t.to_hex()[1..]), Ok(t));
        assert_eq!(t.unix_secs(), 1_700_000_000);
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(Tai64n::decode(&[0; 11]), Err(TaiError::Short));
        assert_eq!(
            Tai64n::from_hex(b"zz0000000000000a00000000"),
            Err(TaiError::Invalid)
        );
        assert_eq!(Tai64n::decode(&[0xff; 12]), Err(TaiError::Invalid));
    }

    #[test]
    fn far_labels_saturate() {
        let end = Tai64n {
            secs: u64::MAX,
            nanos: u32::MAX,
        };
        assert!(end.to_system() > SystemTime::now());
        assert_eq!(end.add(Duration::new(5, 999_999_999)).secs, u64::MAX);
    }

    #[test]
    fn add_carries_nanoseconds() {
        let t = Tai64n::from_unix(5, 900_000_000).add(Duration::from_millis(200));
        assert_eq!(t, Tai64n::from_unix(6, 100_000_000));
    }
}

//! Local time as the C library computes it (TZ, /etc/localtime), for tai64nlocal.
//!
//! It lives here because it needs `unsafe` (libc's localtime_r); matching libc exactly keeps
//! tai64nlocal's output identical to daemontools', which calls localtime().

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Full year (e.g. 2026).
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of the month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-60.
    pub second: u32,
}

/// Reads the time zone (once per process is enough; calling again re-reads TZ).
pub fn init() {
    // SAFETY: tzset only reads the environment and the zone files and sets libc's globals; it
    // is called before any other thread could call localtime_r.
    unsafe { tzset() }
}

extern "C" {
    fn tzset();
}

/// The local time of unix seconds `secs`; `None` where libc cannot represent it.
pub fn local(secs: i64) -> Option<LocalTime> {
    let t: libc::time_t = secs;
    // SAFETY: localtime_r writes only into the tm we own and reads `t`; a zeroed tm is valid.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(LocalTime {
        year: 1900 + i64::from(tm.tm_year),
        month: u32::try_from(tm.tm_mon + 1).ok()?,
        day: u32::try_from(tm.tm_mday).ok()?,
        hour: u32::try_from(tm.tm_hour).ok()?,
        minute: u32::try_from(tm.tm_min).ok()?,
        second: u32::try_from(tm.tm_sec).ok()?,
    })
}

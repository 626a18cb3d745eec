//! Stopping services: one whose directory went away, or all of them when svscan is told to
//! shut down. The main service goes first; its logger is then left to read the pipe to end of
//! file (svscan closes its write end), so no line is lost; a logger that does not finish is
//! told to go down; on shutdown whatever still runs at the deadline is killed.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use vigil_client::Service;
use vigil_proto::{bounded, exit, msg, paths, status};

use crate::scan::Key;
use crate::table::{Fate, Told};
use crate::timers::Timer;
use crate::tree::Tree;

/// The setting file naming the signal that stops the service (supervise's `down-signal`).
const DOWN_SIGNAL: &str = "down-signal";
/// How long a logger may take to read its pipe to end of file once its service is gone.
const DRAIN: Duration = Duration::from_secs(2);
/// How long a shutdown waits for services to go down before killing them (within the 10 s
/// docker and most init systems give before they kill svscan itself).
const SHUTDOWN: Duration = Duration::from_secs(8);
/// How long after the kill svscan waits for the last exits before it leaves anyway.
const AFTER_KILL: Duration = Duration::from_secs(1);

impl Tree {
    /// Begins stopping a service whose directory is gone.
    pub(crate) fn stop(&mut self, key: Key, now: Instant) {
        if let Some(service) = self.table.get_mut(&key) {
            service.fate = Fate::Stopping;
            if let Some(w) = self.watcher.as_mut() {
                w.forget(&service.name);
            }
        }
        self.advance(key, now);
    }

    /// SIGTERM or SIGINT: stop every service, then exit.
    pub(crate) fn shut_down(&mut self, now: Instant) {
        self.kill_at = Some(now + SHUTDOWN);
        // No more scans: a pending removal deadline would otherwise wake the loop for ever.
        self.removal_at = None;
        self.watcher = None;
        for key in self.table.keys() {
            self.stop(key, now);
        }
    }

    /// Takes a stopping service one step further: main down and out, then the logger told to
    /// exit at end of file, then forgotten.
    pub(crate) fn advance(&mut self, key: Key, now: Instant) {
        let Some(service) = self.table.get_mut(&key) else {
            return;
        };
        // A supervise that another svscan left holding the directory is not svscan's child:
        // it is told, through its FIFO, as svscan's own would be, and not waited for (issue
        // #12: a shutdown leaves no supervise of the old svscan behind).
        let log_dir = service.dir.join(paths::LOG);
        let sides = [
            (Some(&mut service.main), service.dir.as_path(), &b"dx"[..]),
            (service.log.as_mut(), log_dir.as_path(), &b"x"[..]),
        ];
        for (sup, dir, bytes) in sides {
            if let Some(sup) = sup.filter(|s| s.pid.is_none() && s.elsewhere.is_some()) {
                if sup.told == Told::Nothing {
                    if let Ok(other) = Service::at(dir) {
                        let _ = other.try_send(bytes);
                    }
                    sup.told = Told::DownExit;
                }
            }
        }
        if service.main.pid.is_none()
            && service.main.elsewhere.is_none()
            && service.main.told == Told::Nothing
        {
            // No supervise runs for it (svscan could not start one again): its run, if one is
            // left, is stopped directly, so it does not outlive svscan (issue #12).
            term_service(&service.dir);
            service.main.told = Told::DownExit;
        }
        if let Some(pid) = service.main.pid {
            if service.main.told == Told::Nothing {
                tell(&service.dir, b"dx", pid);
                service.main.told = Told::DownExit;
            }
            return;
        }
        if let Some(pipe) = service.pipe.as_mut() {
            pipe.close_write();
        }
        if let Some(log) = service.log.as_mut() {
            if let Some(pid) = log.pid {
                if log.told == Told::Nothing {
                    tell(&service.dir.join(paths::LOG), b"x", pid);
                    log.told = Told::Exit;
                    self.timers.at(now + DRAIN, Timer::Drain(key));
                }
                return;
            }
        }
        self.forget(key, now);
    }

    /// The logger of a stopping service had its time to drain: tell it to go down.
    pub(crate) fn drained(&mut self, key: Key) {
        let Some(service) = self.table.get_mut(&key) else {
            return;
        };
        if let Some(log) = service.log.as_mut() {
            if let (Some(pid), Told::Exit) = (log.pid, log.told) {
                tell(&service.dir.join(paths::LOG), b"dx", pid);
                log.told = Told::DownExit;
            }
        }
    }

    /// The shutdown deadline passed: kill every service still running and its supervise.
    pub(crate) fn kill_all(&mut self, now: Instant) {
        self.give_up_at = Some(now + AFTER_KILL);
        for service in self.table.services_mut() {
            let log_dir = service.dir.join(paths::LOG);
            let sides = [
                (service.main.pid, service.dir.as_path()),
                (service.log.as_ref().and_then(|l| l.pid), log_dir.as_path()),
            ];
            for (pid, dir) in sides {
                if let Some(pid) = pid {
                    kill_service(dir);
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
        }
    }
}

/// Writes control bytes to a supervise; if its FIFO cannot be written (not yet made, or the
/// directory deleted), SIGTERM to the supervise itself, which vigil's supervise takes as `dx`.
fn tell(dir: &Path, bytes: &[u8], supervise: Pid) {
    if Service::at(dir).map_or(true, |s| s.try_send(bytes).is_err()) {
        let _ = kill(supervise, Signal::SIGTERM);
    }
}

/// Sends TERM (or the service's `down-signal`, as its supervise would) and CONT to the run that
/// `dir`'s status file names, if it still leads its own process group (as vigil's supervise
/// starts it): a pid reused since is left alone.
fn term_service(dir: &Path) {
    let Ok(bytes) = status::read(dir.as_os_str()) else {
        return;
    };
    let Ok(status) = status::Status::decode(&bytes) else {
        return;
    };
    if status.pid <= 1 {
        return;
    }
    let pid = Pid::from_raw(status.pid as i32);
    if nix::unistd::getpgid(Some(pid)) == Ok(pid) {
        let _ = killpg(pid, down_signal(dir));
        let _ = killpg(pid, Signal::SIGCONT);
    }
}

/// `DIR/down-signal` (a signal name, as supervise and s6-supervise read it), TERM without one;
/// a file that names no signal is a warning, and TERM.
fn down_signal(dir: &Path) -> Signal {
    let mut buf = [0u8; bounded::SETTING_MAX];
    let path = dir.join(DOWN_SIGNAL);
    let reason = match bounded::read(&path, bounded::Links::Refuse, &mut buf) {
        Ok(None) => return Signal::SIGTERM,
        Ok(Some(text)) => match exit::signal_number(text).map(Signal::try_from) {
            Some(Ok(signal)) => return signal,
            Some(Err(_)) | None => "unknown signal, TERM used",
        },
        Err(e) => vigil_proto::errstr::io_errstr(&e),
    };
    msg::warn(
        "svscan",
        &[
            b"unable to read ",
            path.as_os_str().as_bytes(),
            b": ",
            reason.as_bytes(),
        ],
    );
    Signal::SIGTERM
}

/// Kills the service a supervise runs (its process group, as vigil's supervise makes one).
fn kill_service(dir: &Path) {
    let Ok(bytes) = status::read(dir.as_os_str()) else {
        return;
    };
    let Ok(status) = status::Status::decode(&bytes) else {
        return;
    };
    if status.pid > 1 {
        let pid = Pid::from_raw(status.pid as i32);
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = kill(pid, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_signal_file_names_the_signal_and_term_is_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(down_signal(dir.path()), Signal::SIGTERM);
        for (text, signal) in [
            ("SIGINT\n", Signal::SIGINT),
            ("QUIT", Signal::SIGQUIT),
            ("hup", Signal::SIGHUP),
            ("SIGNOPE", Signal::SIGTERM),
            ("", Signal::SIGTERM),
        ] {
            std::fs::write(dir.path().join(DOWN_SIGNAL), text).expect("write");
            assert_eq!(down_signal(dir.path()), signal, "{text:?}");
        }
    }
}

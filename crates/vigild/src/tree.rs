//! The scan directory's shape, watched once for all: services appearing and disappearing
//! (and loggers appearing in a service), by inotify on SCANDIR and on each service
//! directory. Each change bumps a generation that open event streams wait on, so a stream
//! follows the services added after it connected. No change, no wake-up.

use std::path::{Path, PathBuf};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use crate::api::names;
use crate::log::Watch;

/// A receiver that sees a new generation at every change of SCANDIR's services.
pub type Changes = watch::Receiver<u64>;

/// What is watched for: entries made, removed or renamed.
fn flags() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// A channel for the changes: the sender for [`run`], the receiver for the routes.
pub fn channel() -> (watch::Sender<u64>, Changes) {
    watch::channel(0)
}

/// Watches every service directory of `scandir` for a `log` appearing.
fn watch_services(inotify: &Inotify, scandir: &Path) {
    for name in names(scandir) {
        if !name.contains('/') {
            let _ = inotify.add_watch(&scandir.join(&name), flags());
        }
    }
}

/// Bumps `tx`'s generation at every change of `scandir`'s services, until every receiver
/// is gone. Without inotify (a failed init) streams keep the services they started with.
pub async fn run(scandir: PathBuf, tx: watch::Sender<u64>) {
    let Ok(inotify) = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) else {
        return;
    };
    let Ok(top): Result<WatchDescriptor, _> = inotify.add_watch(&scandir, flags()) else {
        return;
    };
    watch_services(&inotify, &scandir);
    // The Watch owns the inotify descriptor for as long as it is registered (AsyncFd::new is
    // deprecated for I/O safety; its replacement is unsafe, which this crate forbids).
    #[allow(deprecated)]
    let Ok(fd) = AsyncFd::new(Watch(inotify)) else {
        return;
    };
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            ready = fd.readable() => {
                let Ok(mut guard) = ready else { return };
                guard.clear_ready();
            }
        }
        let mut changed = false;
        // Drain: a burst of changes is one generation.
        while let Ok(events) = fd.get_ref().0.read_events() {
            if events.is_empty() {
                break;
            }
            for event in events {
                let name = event.name.as_deref().and_then(|n| n.to_str());
                // In SCANDIR every entry counts; in a service only its logger's directory.
                if event.wd == top || name == Some("log") || event.name.is_none() {
                    changed = true;
                }
            }
        }
        if changed {
            watch_services(&fd.get_ref().0, &scandir);
            tx.send_modify(|generation| *generation += 1);
        }
    }
}

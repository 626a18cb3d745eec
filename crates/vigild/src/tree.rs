//! The scan directory's services, watched once for all the event streams (vigil-client's
//! [`ScanDir`]: inotify on SCANDIR, on entries not yet services and on each service for a
//! logger made later). Each change bumps a generation that open streams wait on, so a stream
//! follows the services added after it connected. No change, no wake-up.

use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use vigil_client::scandir::ScanDir;

/// A receiver that sees a new generation at every change of SCANDIR's services.
pub type Changes = watch::Receiver<u64>;

/// A channel for the changes: the sender for [`run`], the receiver for the routes.
pub fn channel() -> (watch::Sender<u64>, Changes) {
    watch::channel(0)
}

/// A watched scan directory that tokio can wait on.
struct Watched(ScanDir);

impl AsRawFd for Watched {
    fn as_raw_fd(&self) -> RawFd {
        self.0.fd().as_raw_fd()
    }
}

/// Bumps `tx`'s generation at every change of `scandir`'s services, until every receiver
/// is gone. Without inotify (a failed open) streams keep the services they started with.
pub async fn run(scandir: PathBuf, tx: watch::Sender<u64>) {
    let Ok(tree) = ScanDir::open(scandir.as_os_str()) else {
        return;
    };
    // The Watched owns the inotify descriptor for as long as it is registered (AsyncFd::new
    // is deprecated for I/O safety; its replacement is unsafe, which this crate forbids).
    #[allow(deprecated)]
    let Ok(mut fd) = AsyncFd::new(Watched(tree)) else {
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
        match fd.get_mut().0.update() {
            Ok(changes) if changes.added.is_empty() && changes.removed.is_empty() => {}
            Ok(_) => tx.send_modify(|generation| *generation += 1),
            Err(_) => return,
        }
    }
}

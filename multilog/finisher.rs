//! Finishing full log files off the main loop (directories without a processor).
//!
//! daemontools fsyncs `current`, renames it, links it to `@<tai64n>.s` and prunes old files
//! while input waits; those are the slowest steps of logging. vigil renames a full `current`
//! to `@<tai64n>.u` at once (the name daemontools gives a file that may not be safely on disk)
//! and carries on in a new `current`, while one of these workers fsyncs the file, sets its mode
//! to 744, renames it to `@<tai64n>.s` and prunes. A crash between leaves the `.u` name: exactly what
//! it means. At most `QUEUE` files wait, so the main loop slows down to the disk's pace
//! rather than run ahead of it.

use std::fs::{self, File, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::files::files_fit;
use crate::pause::retry;

/// Full files waiting for a worker, beyond those the workers hold.
const QUEUE: usize = 2;
/// Workers per log directory: fsyncs running side by side share the file system's journal
/// commits, which matters when other programs keep the disk busy.
const WORKERS: usize = 3;

/// A full file to finish: its descriptor and its `@<tai64n>.u` name.
struct Job {
    file: File,
    name: Vec<u8>,
}

/// The workers of one log directory.
pub struct Finisher {
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl Finisher {
    /// Starts the workers for the directory at `path` (`name` as typed, for messages), keeping
    /// fewer than `num` old files.
    pub fn start(path: PathBuf, name: Vec<u8>, num: u64) -> io::Result<Finisher> {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = Vec::with_capacity(WORKERS);
        for _ in 0..WORKERS {
            let (queue, path, name) = (Arc::clone(&queue), path.clone(), name.clone());
            workers.push(
                std::thread::Builder::new()
                    .name("finisher".into())
                    .spawn(move || loop {
                        // The lock is held only to take a job, never while finishing one.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => finish(&path, &name, num, job),
                            Err(_) => return,
                        }
                    })?,
            );
        }
        Ok(Finisher {
            jobs: Some(jobs),
            workers,
        })
    }

    /// Hands over a full file (waits while `QUEUE` files already wait).
    pub fn hand_over(&self, file: File, name: Vec<u8>) {
        if let Some(jobs) = &self.jobs {
            // The worker only stops when the sender is dropped; a send error cannot happen.
            let _ = jobs.send(Job { file, name });
        }
    }

    /// Waits until every file handed over is finished.
    pub fn wait(&mut self) {
        drop(self.jobs.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn finish(path: &std::path::Path, dir: &[u8], num: u64, job: Job) {
    let at = |name: &[u8]| vigil_proto::msg::cat(&[dir, b"/", name]);
    let file = &job.file;
    retry(&[b"write ", &at(&job.name), b" to disk"], || {
        file.sync_all()
    });
    retry(&[b"set mode of ", &at(&job.name)], || {
        file.set_permissions(Permissions::from_mode(0o744))
    });
    let mut done = job.name.clone();
    if let Some(code) = done.last_mut() {
        *code = b's';
    }
    let from = path.join(std::ffi::OsStr::from_bytes(&job.name));
    let to = path.join(std::ffi::OsStr::from_bytes(&done));
    // With a small n, pruning after the previous file may already have removed this one.
    retry(&[b"rename ", &at(&job.name)], || {
        match fs::rename(&from, &to) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    });
    while !retry(&[b"read ", dir], || files_fit(path, num)) {}
}

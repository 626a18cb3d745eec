//! Rotation of a log directory, step for step as daemontools' fullcurrent(), finish() and
//! filesfit(): `current` safely on disk, renamed `previous`, processed or not, linked to an
//! `@<tai64n>.s` name, and the oldest `@` files removed to keep fewer than NUM of them.

use std::fs::{self, File, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use vigil_proto::tai::Tai64n;

use crate::finisher::Finisher;
use crate::logdir::{append_file, LogDir};
use crate::pause::retry;
use crate::processor;

impl LogDir {
    /// Ends `current` now and starts a new one.
    pub fn rotate(&mut self) {
        self.write_out();
        if self.processor.is_some() {
            self.rotate_with_processor();
            return;
        }
        // NEW: the full file becomes `@<now>.u` at once; the finisher makes it safe on disk
        // and `.s` while input goes on into the new current.
        let name = loop {
            let mut name = Tai64n::now().to_hex().to_vec();
            name.extend_from_slice(b".u");
            if !self.path.join(std::ffi::OsStr::from_bytes(&name)).exists() {
                break name;
            }
        };
        let (from, to) = (
            self.file("current"),
            self.path.join(std::ffi::OsStr::from_bytes(&name)),
        );
        retry(
            &[b"rename current to ", &name, b" in directory ", &self.name],
            || fs::rename(&from, &to),
        );
        let full = self.open_new_current();
        if self.finisher.is_none() {
            let started = retry(&[b"start a thread for ", &self.name], || {
                Finisher::start(self.path.clone(), self.name.clone(), self.num)
            });
            self.finisher = Some(started);
        }
        if let Some(finisher) = &self.finisher {
            finisher.hand_over(full, name);
        }
    }

    /// Opens a new, empty `current` (mode 644); returns the full one.
    fn open_new_current(&mut self) -> File {
        let path = self.file("current");
        let new = retry(&[b"create ", &self.at("current")], || {
            append_file(&path, 0o600)
        });
        let full = std::mem::replace(&mut self.current, new);
        self.bytes = 0;
        let current = &self.current;
        retry(&[b"set mode of ", &self.at("current")], || {
            current.set_permissions(Permissions::from_mode(0o644))
        });
        full
    }

    /// daemontools' fullcurrent: `current` safely on disk, renamed `previous`, processed into
    /// `processed`, which becomes the `.s` file.
    fn rotate_with_processor(&mut self) {
        let current = &self.current;
        retry(&[b"write ", &self.at("current"), b" to disk"], || {
            current.sync_all()
        });
        let (from, to) = (self.file("current"), self.file("previous"));
        retry(
            &[b"rename current to previous in directory ", &self.name],
            || fs::rename(&from, &to),
        );
        drop(self.open_new_current());
        let previous = self.file("previous");
        retry(&[b"set mode of ", &self.at("previous")], || {
            fs::set_permissions(&previous, Permissions::from_mode(0o744))
        });
        match self.processor.clone() {
            None => self.finish("previous", b's'),
            Some(processor) => {
                processor::process(self, &processor);
                self.finish("processed", b's');
            }
        }
    }

    /// Gives `file` an `@<now>.CODE` name (unless it already has a second link), removes the
    /// old name, and prunes old files (daemontools' finish).
    pub fn finish(&mut self, file: &str, code: u8) {
        let path = self.file(file);
        let meta = retry(&[b"stat ", &self.at(file)], || match fs::metadata(&path) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        });
        let Some(meta) = meta else {
            return;
        };
        if meta.nlink() == 1 {
            loop {
                let mut name = Tai64n::now().to_hex().to_vec();
                name.extend_from_slice(&[b'.', code]);
                let target = self.path.join(std::ffi::OsStr::from_bytes(&name));
                match fs::hard_link(&path, &target) {
                    Ok(()) => break,
                    Err(e) => {
                        let what = [b"link to " as &[u8], &self.name, b"/", &name, b", pausing"];
                        vigil_proto::msg::warn_unable("multilog", &e, &what);
                        std::thread::sleep(crate::pause::PAUSE);
                    }
                }
            }
        }
        retry(&[b"remove ", &self.at(file)], || fs::remove_file(&path));
        while !retry(&[b"read ", &self.name], || files_fit(&self.path, self.num)) {}
    }
}

/// True if fewer than `num` old files are left in `dir`; otherwise removes the oldest and
/// says false (daemontools' filesfit: the oldest is the least name of 25 bytes or more).
pub fn files_fit(dir: &Path, num: u64) -> io::Result<bool> {
    let mut count = 0u64;
    let mut oldest: Option<Vec<u8>> = None;
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.as_bytes();
        if name.first() == Some(&b'@') && name.len() >= 25 {
            count += 1;
            if oldest.as_deref().is_none_or(|o| name < o) {
                oldest = Some(name.to_vec());
            }
        }
    }
    if count < num {
        return Ok(true);
    }
    let Some(oldest) = oldest else {
        return Ok(true);
    };
    // compat: daemontools removes the first entry that starts with the oldest's 25 bytes.
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_bytes().len() >= 25 && name.as_bytes().starts_with(&oldest[..25]) {
            let _ = fs::remove_file(entry.path());
            break;
        }
    }
    Ok(false)
}

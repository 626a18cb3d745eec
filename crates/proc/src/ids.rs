//! Accounts and dropping privileges, as daemontools' setuidgid and envuidgid do.

use std::ffi::OsStr;
use std::io;

use nix::unistd::{setgid, setgroups, setuid, Gid, Uid, User};

/// The ids of an account from the password database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// The account's user id.
    pub uid: u32,
    /// The account's primary group id.
    pub gid: u32,
}

/// Which call failed, since setuidgid names it in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// setgroups or setgid.
    Gid,
    /// setuid.
    Uid,
}

/// Looks `name` up in the password database (getpwnam, through NSS); `None` if there is no
/// such account or it cannot be read.
///
/// compat: daemontools reports any failure of getpwnam as an unknown account.
pub fn lookup(name: &OsStr) -> Option<Account> {
    let name = name.to_str()?;
    let user = User::from_name(name).ok()??;
    Some(Account {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    })
}

/// Becomes `account`: the supplementary groups become its gid alone, then gid, then uid.
///
/// The order matters: once the uid is dropped, the groups can no longer be changed.
pub fn become_account(account: Account) -> Result<(), (Step, io::Error)> {
    let gid = Gid::from_raw(account.gid);
    setgroups(&[gid]).map_err(|e| (Step::Gid, e.into()))?;
    setgid(gid).map_err(|e| (Step::Gid, e.into()))?;
    setuid(Uid::from_raw(account.uid)).map_err(|e| (Step::Uid, e.into()))
}

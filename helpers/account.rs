//! The `account child` arguments of setuidgid and envuidgid.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use vigil_proc::ids::{lookup, Account};
use vigil_proto::msg::Fail;

/// The account named by the first argument and the child that follows it.
///
/// `usage` is the program's usage text (exit 100); an account the password database does not
/// know is `unknown account NAME`, exit 111, as daemontools says.
pub fn account_and_child<'a>(
    args: &'a [OsString],
    usage: &str,
) -> Result<(Account, &'a [OsString]), Fail> {
    let [name, child @ ..] = args else {
        return Err(Fail::usage(usage));
    };
    if child.is_empty() {
        return Err(Fail::usage(usage));
    }
    let account =
        lookup(name).ok_or_else(|| Fail::fatal(&[b"unknown account ", name.as_bytes()]))?;
    Ok((account, child))
}

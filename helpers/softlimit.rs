//! softlimit: runs a program with lower soft resource limits, as daemontools' softlimit does.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod chain;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use vigil_proc::limits::{set_soft, Resource, Soft, Step};
use vigil_proto::errstr::io_errstr;
use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail};

const USAGE: &str = "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] \
[-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] \
[-t cpusecs] child";

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("softlimit", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let mut opts = Getopt::new(args, "a:c:d:f:l:m:o:p:r:s:t:");
    for opt in opts.by_ref() {
        let (flag, value) = match opt {
            Ok(Opt::Arg(flag, value)) => (flag, value),
            Ok(Opt::Flag(_)) => return Err(Fail::usage(USAGE)),
            Err(problem) => {
                // compat: sgetopt's complaint, then the usage line.
                msg::write_line(&[&problem.line("softlimit")]);
                return Err(Fail::usage(USAGE));
            }
        };
        let soft = parse(value).ok_or_else(|| Fail::usage(USAGE))?;
        for &resource in resources(flag) {
            set_soft(resource, soft).map_err(|(step, e)| match step {
                Step::Get => failed(&e, b"getrlimit"),
                Step::Set => failed(&e, b"setrlimit"),
            })?;
        }
    }
    let child = opts.rest();
    if child.is_empty() {
        return Err(Fail::usage(USAGE));
    }
    Err(chain::exec(chain::program(child)?))
}

/// compat: daemontools says `getrlimit failed: REASON`, not `unable to ...`.
fn failed(error: &std::io::Error, call: &[u8]) -> Fail {
    Fail::fatal(&[call, b" failed: ", io_errstr(error).as_bytes()])
}

/// The limits an option sets.
///
/// compat: `-m` sets the data, stack, locked-memory and address-space limits together, as
/// daemontools does on Linux.
fn resources(flag: u8) -> &'static [Resource] {
    match flag {
        b'a' => &[Resource::RLIMIT_AS],
        b'c' => &[Resource::RLIMIT_CORE],
        b'd' => &[Resource::RLIMIT_DATA],
        b'f' => &[Resource::RLIMIT_FSIZE],
        b'l' => &[Resource::RLIMIT_MEMLOCK],
        b'm' => &[
            Resource::RLIMIT_DATA,
            Resource::RLIMIT_STACK,
            Resource::RLIMIT_MEMLOCK,
            Resource::RLIMIT_AS,
        ],
        b'o' => &[Resource::RLIMIT_NOFILE],
        b'p' => &[Resource::RLIMIT_NPROC],
        b'r' => &[Resource::RLIMIT_RSS],
        b's' => &[Resource::RLIMIT_STACK],
        b't' => &[Resource::RLIMIT_CPU],
        _ => &[],
    }
}

/// `=` (the hard limit) or a decimal number.
///
/// compat: as daemontools' scan_ulong, the empty string is 0 and a number too big for 64 bits
/// wraps around; any other byte is a usage error.
fn parse(value: &OsStr) -> Option<Soft> {
    let bytes = value.as_bytes();
    if bytes == b"=" {
        return Some(Soft::Hard);
    }
    bytes
        .iter()
        .try_fold(0u64, |n, &b| {
            b.is_ascii_digit()
                .then(|| n.wrapping_mul(10).wrapping_add(u64::from(b - b'0')))
        })
        .map(Soft::Value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_as_scan_ulong() {
        assert_eq!(parse(OsStr::new("=")), Some(Soft::Hard));
        assert_eq!(parse(OsStr::new("")), Some(Soft::Value(0)));
        assert_eq!(parse(OsStr::new("300")), Some(Soft::Value(300)));
        assert_eq!(parse(OsStr::new("3k")), None);
        assert_eq!(parse(OsStr::new("-1")), None);
        assert_eq!(
            parse(OsStr::new("18446744073709551616")),
            Some(Soft::Value(0))
        );
    }
}

//! Who sent a datagram on a unix socket: SO_PASSCRED and the SCM_CREDENTIALS the kernel
//! attaches (the sender's pid, uid and gid, which a process cannot fake without
//! CAP_SYS_ADMIN). supervise's notify socket accepts `READY=1` only from the service's own
//! processes. No allocation: the control buffer is on the stack.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd};

/// The sender of a datagram, as the kernel saw it (in the receiver's pid namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// Its process id.
    pub pid: i32,
    /// Its user id.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
}

/// Asks the kernel to attach the sender's credentials to every datagram `socket` receives
/// (SO_PASSCRED), whether or not the sender sends them.
pub fn pass_credentials(socket: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads size_of::<c_int>() bytes from a live c_int; the descriptor is
    // borrowed, so open for the call.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one datagram into `buf` (truncated to its length, MSG_TRUNC set aside): its length
/// and its sender, `None` when no credentials came with it. Blocks or not as the socket does
/// (WouldBlock when none waits on a non-blocking socket). Descriptors passed along with it are
/// closed at once (MSG_CMSG_CLOEXEC, then close).
pub fn recv_with_sender(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Option<Sender>)> {
    // Room for the credentials and a few descriptors someone may push at us: u64s keep the
    // buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>() as _;
    // SAFETY: msg points at iov (over buf) and control, all live and of the lengths given, for
    // the duration of the call.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut sender = None;
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of cmsghdrs; CMSG_FIRSTHDR
    // and CMSG_NXTHDR stay within them, and each header's data is read only for its own type
    // and length.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let data_len = (header.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            match (header.cmsg_level, header.cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS)
                    if data_len >= size_of::<libc::ucred>() =>
                {
                    let cred: libc::ucred = std::ptr::read_unaligned(data.cast());
                    sender = Some(Sender {
                        pid: cred.pid,
                        uid: cred.uid,
                        gid: cred.gid,
                    });
                }
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    let count = data_len / size_of::<libc::c_int>();
                    for i in 0..count {
                        let fd: libc::c_int =
                            std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i));
                        libc::close(fd);
                    }
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, sender))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn the_sender_is_this_process() {
        let (a, b) = UnixDatagram::pair().expect("pair");
        pass_credentials(b.as_fd()).expect("SO_PASSCRED");
        a.send(b"READY=1").expect("send");
        let mut buf = [0u8; 64];
        let (n, sender) = recv_with_sender(b.as_fd(), &mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
        let sender = sender.expect("credentials");
        assert_eq!(sender.pid, std::process::id() as i32);
        assert_eq!(sender.uid, nix::unistd::getuid().as_raw());
        b.set_nonblocking(true).expect("nonblocking");
        let empty = recv_with_sender(b.as_fd(), &mut buf).map_err(|e| e.kind());
        assert_eq!(empty, Err(io::ErrorKind::WouldBlock));
    }

    #[test]
    fn without_passcred_there_is_no_sender() {
        let (a, b) = UnixDatagram::pair().expect("pair");
        a.send(b"x").expect("send");
        let mut buf = [0u8; 8];
        assert_eq!(
            recv_with_sender(b.as_fd(), &mut buf).expect("recv"),
            (1, None)
        );
    }
}

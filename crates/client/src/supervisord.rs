//! supervisord's view of a service: its process states (supervisor/states.py) and the one
//! mapping of vigil's status onto them, shared by vigild's XML-RPC and vigil-listen's events
//! (docs/supervisord.md, docs/listen.md).
//!
//! ```
//! use vigil_client::supervisord::{proc_state, ProcState};
//!
//! assert_eq!(proc_state(None), ProcState::Unknown);
//! assert_eq!((ProcState::Backoff.code(), ProcState::Backoff.name()), (30, "BACKOFF"));
//! ```

use vigil_proto::exit::LastExit;
use vigil_proto::status::{BackoffCause, State, Status, Want};

/// supervisord's process states (supervisor/states.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// 0: down as asked.
    Stopped,
    /// 10: up, not ready yet.
    Starting,
    /// 20: up (and ready).
    Running,
    /// 30: waiting before the next start after a quick exit.
    Backoff,
    /// 40: being stopped, or `finish` running.
    Stopping,
    /// 100: down on its own (after `once`, or a failure).
    Exited,
    /// 200: `run` cannot be started (missing, not executable, exec failing).
    Fatal,
    /// 1000: no supervise runs on it.
    Unknown,
}

impl ProcState {
    /// The state's code.
    pub fn code(self) -> i64 {
        match self {
            ProcState::Stopped => 0,
            ProcState::Starting => 10,
            ProcState::Running => 20,
            ProcState::Backoff => 30,
            ProcState::Stopping => 40,
            ProcState::Exited => 100,
            ProcState::Fatal => 200,
            ProcState::Unknown => 1000,
        }
    }

    /// The state's name.
    pub fn name(self) -> &'static str {
        match self {
            ProcState::Stopped => "STOPPED",
            ProcState::Starting => "STARTING",
            ProcState::Running => "RUNNING",
            ProcState::Backoff => "BACKOFF",
            ProcState::Stopping => "STOPPING",
            ProcState::Exited => "EXITED",
            ProcState::Fatal => "FATAL",
            ProcState::Unknown => "UNKNOWN",
        }
    }

    /// supervisord's RUNNING_STATES: what `start` refuses and `stop` acts on.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ProcState::Running | ProcState::Backoff | ProcState::Starting
        )
    }
}

/// The supervisord state of a service with status `status` (`None`: no supervise).
pub fn proc_state(status: Option<&Status>) -> ProcState {
    let Some(status) = status else {
        return ProcState::Unknown;
    };
    let Some(ext) = status.ext else {
        return if status.pid != 0 {
            ProcState::Running
        } else {
            ProcState::Stopped
        };
    };
    match ext.state {
        State::Starting => ProcState::Starting,
        State::Up => ProcState::Running,
        State::Stopping | State::Finishing => ProcState::Stopping,
        State::Backoff if ext.backoff_cause == BackoffCause::StartFailed => ProcState::Fatal,
        State::Backoff => ProcState::Backoff,
        State::Down => {
            let failed = match ext.last_exit.map(LastExit::from_wait_status) {
                None | Some(LastExit::Code(0)) => false,
                Some(LastExit::Signal(s)) => s != libc::SIGTERM && s != libc::SIGKILL,
                Some(_) => true,
            };
            if status.want == Want::Down && !failed {
                ProcState::Stopped
            } else {
                ProcState::Exited
            }
        }
    }
}

//! supervise's state machine: pure, no syscalls, no clock reads.
//!
//! `Supervisor::on(input, now)` changes the state and says what the loop must do, in order.
//! Effects that need an answer (start a process, look for strays) are answered by the loop with
//! an input at once (`Started`, `FinishStarted`, `StraysLeft`), so every decision stays here and
//! is tested by (state, input) -> (state, effects) tables below.

use std::time::{Duration, Instant};

use vigil_proto::control::Control;
use vigil_proto::event::Event;
use vigil_proto::status::{self, BackoffCause};

use crate::limits::{Action, RESTART_KILL_AFTER};

/// A process id.
pub type Pid = i32;

/// How long leftover processes of a dead service's process group get between TERM and KILL.
pub const STRAY_GRACE: Duration = Duration::from_secs(1);

/// What supervise was last told to do (the status file's want byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Keep it up (`u`, or no `down` file).
    Up,
    /// Keep it down (`d`, or a `down` file).
    Down,
    /// Run it once, no restart (`o`).
    Once,
}

/// The earlier of two optional deadlines (`None`: no deadline).
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a stop reaches: the run's process group (daemontools' world, and the fallback), or
/// NEW: the service's cgroup, which nothing `run` starts can leave (supervise/cgroup.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The process group (and session) `run` leads.
    Group,
    /// The service's cgroup: leftovers are stopped before the next start.
    Cgroup,
}

/// Whether the run has said it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// It notifies (`notification-fd`, `notify-socket`) and has not yet: shown as starting.
    Waiting,
    /// It said so, or it has no way to (ready once started).
    Ready,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Its wait status, as waitpid gave it.
    Status(i32),
    /// An adopted process (not our child): it is gone, how is unknown.
    Unknown,
}

/// Thresholds, from the service directory's override files (see config.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// First backoff delay.
    pub backoff_first: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// A run shorter than this is a quick exit (backoff); longer resets the backoff.
    pub quick: Duration,
    /// After `d`, KILL the process group if the service is still up this long; none by default.
    pub timeout_kill: Option<Duration>,
    /// KILL `finish` (and its group) if it runs this long; `None`: no limit.
    pub timeout_finish: Option<Duration>,
    /// What `d` and a stop of supervise send first (`down-signal`; TERM by default).
    pub down_signal: i32,
    /// Warn if a run that notifies has not said it is ready this long after its start
    /// (`ready-timeout`); `None`: never.
    pub ready_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            backoff_first: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            quick: Duration::from_secs(1),
            timeout_kill: None,
            timeout_finish: Some(Duration::from_secs(5)),
            down_signal: libc::SIGTERM,
            ready_timeout: None,
        }
    }
}

/// What supervise is doing with the service; one at a time, each change announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No process, none scheduled.
    Down,
    /// `./run` is being spawned (answered by `Input::Started` at once).
    Starting,
    /// `./run` runs.
    Up {
        /// Its pid (and process group).
        pid: Pid,
        /// When it started (or was adopted).
        since: Instant,
    },
    /// Told to go down: TERM and CONT sent, waiting for it to exit.
    Stopping {
        /// Its pid (and process group).
        pid: Pid,
        /// When it started.
        since: Instant,
        /// When to KILL its process group (`timeout-kill`); `None`: never, or done.
        kill_at: Option<Instant>,
    },
    /// `./run` exited; `./finish` runs (or is being looked for, while `pid` is `None`).
    Finishing {
        /// finish's pid once started.
        pid: Option<Pid>,
        /// When to KILL finish's process group; `None`: never, or done.
        kill_at: Option<Instant>,
        /// Whether the run that ended was a failure: a quick exit supervise did not ask for
        /// (issue 15 item 4), which backs off.
        quick: bool,
    },
    /// NEW: `run` and `finish` are done and processes `run` left are still in its cgroup:
    /// they were sent TERM and CONT (KILL after [`STRAY_GRACE`]); the next start, or down,
    /// waits until the cgroup is empty (the cgroup path only, issue 14).
    Clearing {
        /// Whether the run that ended was a quick exit.
        quick: bool,
    },
    /// Waiting before the next start.
    Backoff {
        /// When to start.
        until: Instant,
        /// Why.
        cause: BackoffCause,
    },
}

/// Everything that can wake supervise, or answer an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A control byte from `supervise/control`.
    Control(Control),
    /// A child was reaped (or the adopted process exited).
    Exited(Pid, Exit),
    /// Answer to `Effect::Start`: the new pid and whether it will notify readiness
    /// (`Waiting`) or not (`Ready`), or the errno of the failed start.
    Started(Result<(Pid, Readiness), i32>),
    /// Answer to `Effect::Finish`: finish's pid, or `None` (no executable finish, or it failed).
    FinishStarted(Option<Pid>),
    /// Answer to `Effect::StopStrays`/`ProbeStrays`: whether the group still has processes.
    StraysLeft(bool),
    /// The deadline passed.
    Timeout,
    /// SIGTERM, SIGHUP or SIGINT to supervise: bring the service down, then exit.
    Terminate,
    /// The run said it is ready (`notification-fd`, `NOTIFY_SOCKET`).
    Ready,
    /// A sample passed a limit; `on-limit` says what to do (one input per limit passed).
    Breach(Action),
}

/// What the loop must do after a transition, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Spawn `./run`; answer `Started`.
    Start,
    /// Spawn `./finish` for this exit if it is executable; answer `FinishStarted`.
    Finish(Exit),
    /// kill(pid, signal).
    Signal(Pid, i32),
    /// killpg(group, signal).
    SignalGroup(Pid, i32),
    /// TERM and CONT to what is left of this group unless the service opts out; answer
    /// `StraysLeft`.
    StopStrays(Pid),
    /// Answer `StraysLeft` for this group (after reaping some process).
    ProbeStrays(Pid),
    /// NEW: this signal to every process in the service's cgroup.
    SignalCgroup(i32),
    /// NEW: kill every process in the service's cgroup (`cgroup.kill`); answer `StraysLeft`.
    KillCgroup,
    /// Write the status file.
    Announce,
    /// Warn that this run has not said it is ready within `ready-timeout`.
    NotReady(Pid),
    /// Publish this event about the run with the next status write (one no state change
    /// shows, as a limit breach).
    Publish(Event),
}

/// The effects of one input (at most a handful; kept on the stack).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    items: [Option<Effect>; 6],
    len: usize,
}

impl Effects {
    fn push(&mut self, fx: Effect) {
        // invariant: no transition emits more than 6 effects (the table tests cover each).
        self.items[self.len] = Some(fx);
        self.len += 1;
    }

    /// The effects, in order.
    pub fn as_slice(&self) -> impl Iterator<Item = Effect> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }
}

/// The whole of supervise's knowledge about its service.
#[derive(Debug, Clone)]
pub struct Supervisor {
    /// What is happening.
    pub state: State,
    /// The standing wish.
    pub want: Want,
    /// Paused with `p` (and not continued).
    pub paused: bool,
    /// Whether the run shown has said it is ready: `starting` until it has.
    pub readiness: Readiness,
    /// `x` or a terminating signal: exit once the service is down.
    pub exiting: bool,
    /// Starts of `run` after the first.
    pub restarts: u32,
    /// Wait status of the last exit of `run`.
    pub last_exit: Option<i32>,
    /// Thresholds; the loop refreshes them from the override files.
    pub config: Config,
    /// What a stop reaches; the loop sets it once, when it knows whether a cgroup is there.
    pub reach: Reach,
    started_once: bool,
    /// Consecutive failures supervise did not ask for (quick exits, failed starts): the
    /// backoff step. A run that lasts `quick`, an operator's restart and `u` or `o` on a
    /// service that is not running reset it (issue 15 item 4).
    pub failures: u32,
    /// The run shown was told to stop or sent a signal by a control byte (`svc -t`, `-d`,
    /// `-k` ...): its death is the operator's doing, not a failure.
    asked: bool,
    /// A dead run's process group being cleaned up: (group, when to KILL it; `None` until the
    /// TERM is known to have reached someone).
    strays: Option<(Pid, Option<Instant>)>,
    /// A restart after a limit breach: the run's group and when to KILL it if it lingers.
    limit_kill: Option<(Pid, Instant)>,
    /// When to warn that the run has not said it is ready (`ready-timeout`), while it has not.
    ready_warn_at: Option<Instant>,
    rng: u64,
}

impl Supervisor {
    /// A supervisor with nothing running; `want_up` unless the service has a `down` file.
    /// `seed` feeds the backoff jitter.
    pub fn new(config: Config, want: Want, seed: u64) -> Supervisor {
        Supervisor {
            state: State::Down,
            want,
            paused: false,
            readiness: Readiness::Ready,
            exiting: false,
            restarts: 0,
            last_exit: None,
            config,
            reach: Reach::Group,
            started_once: false,
            failures: 0,
            asked: false,
            strays: None,
            limit_kill: None,
            ready_warn_at: None,
            rng: seed | 1,
        }
    }

    /// Takes over a run left by a previous supervise (its pid, checked by the caller). It is
    /// ready: whatever it would have said went to the previous supervise.
    pub fn adopt(&mut self, pid: Pid, now: Instant) -> Effects {
        self.state = State::Up { pid, since: now };
        self.started_once = true;
        self.readiness = Readiness::Ready;
        let mut fx = Effects::default();
        fx.push(Effect::Publish(Event::Ready));
        fx
    }

    /// NEW: processes of an earlier run are in the service's cgroup and no run was adopted
    /// (supervise restarted after a SIGKILL): they are stopped before the first start.
    pub fn clear_leftovers(&mut self) -> Effects {
        let mut fx = Effects::default();
        self.state = State::Clearing { quick: false };
        self.strays = Some((0, None));
        fx.push(Effect::StopStrays(0));
        fx
    }

    /// What to do first: start the service unless it is wanted down.
    pub fn boot(&mut self) -> Effects {
        let mut fx = Effects::default();
        match (self.state, self.want) {
            (State::Down, Want::Up | Want::Once) => self.start(&mut fx),
            (State::Down, Want::Down)
            | (State::Starting, _)
            | (State::Up { .. }, _)
            | (State::Stopping { .. }, _)
            | (State::Finishing { .. }, _)
            | (State::Clearing { .. }, _)
            | (State::Backoff { .. }, _) => {}
        }
        fx
    }

    /// When the loop must wake even if nothing happens; `None`: sleep until something does.
    pub fn deadline(&self) -> Option<Instant> {
        let state = match self.state {
            State::Stopping { kill_at, .. } | State::Finishing { kill_at, .. } => kill_at,
            State::Backoff { until, .. } => Some(until),
            State::Down | State::Starting | State::Up { .. } | State::Clearing { .. } => None,
        };
        let strays = self.strays.and_then(|(_, at)| at);
        let limit_kill = self.limit_kill.map(|(_, at)| at);
        earliest(
            earliest(state, strays),
            earliest(limit_kill, self.ready_warn_at),
        )
    }

    /// True once supervise should exit: told to, the service is down and no strays are left.
    pub fn finished(&self) -> bool {
        self.exiting && self.state == State::Down && self.strays.is_none()
    }

    /// The pid the status file shows: the run's, while it runs.
    pub fn pid(&self) -> Option<Pid> {
        match self.state {
            State::Up { pid, .. } | State::Stopping { pid, .. } => Some(pid),
            State::Down
            | State::Starting
            | State::Finishing { .. }
            | State::Clearing { .. }
            | State::Backoff { .. } => None,
        }
    }

    /// The state word of the status extension.
    pub fn word(&self) -> status::State {
        match self.state {
            State::Down => status::State::Down,
            State::Starting => status::State::Starting,
            State::Up { .. } => match self.readiness {
                Readiness::Waiting => status::State::Starting,
                Readiness::Ready => status::State::Up,
            },
            State::Stopping { .. } => status::State::Stopping,
            // Not yet down: what the run left is still being stopped.
            State::Finishing { .. } | State::Clearing { .. } => status::State::Finishing,
            State::Backoff { .. } => status::State::Backoff,
        }
    }

    /// Why it is in backoff, and until when.
    pub fn backoff(&self) -> Option<(BackoffCause, Instant)> {
        match self.state {
            State::Backoff { until, cause } => Some((cause, until)),
            State::Down
            | State::Starting
            | State::Up { .. }
            | State::Stopping { .. }
            | State::Finishing { .. }
            | State::Clearing { .. } => None,
        }
    }

    /// Pure: the transition for `input` at `now`, and what the loop must do.
    pub fn on(&mut self, input: Input, now: Instant) -> Effects {
        let mut fx = Effects::default();
        match input {
            Input::Control(c) => self.control(c, now, &mut fx),
            Input::Exited(pid, exit) => self.exited(pid, exit, now, &mut fx),
            Input::Started(result) => self.started(result, now, &mut fx),
            Input::FinishStarted(pid) => self.finish_started(pid, now, &mut fx),
            Input::StraysLeft(left) => self.strays_left(left, now, &mut fx),
            Input::Timeout => self.timeout(now, &mut fx),
            Input::Terminate => {
                self.exiting = true;
                self.go_down(now, &mut fx);
            }
            Input::Ready => self.ready(&mut fx),
            Input::Breach(action) => self.breach(action, now, &mut fx),
        }
        fx
    }

    fn start(&mut self, fx: &mut Effects) {
        self.state = State::Starting;
        self.paused = false;
        self.asked = false;
        fx.push(Effect::Start);
    }

    fn control(&mut self, c: Control, now: Instant, fx: &mut Effects) {
        match c {
            Control::Up => {
                self.want = Want::Up;
                match self.state {
                    // announced once started (or once the start failed), not before; the
                    // operator's start is a fresh one: failures before it do not count.
                    State::Down | State::Backoff { .. } => {
                        self.failures = 0;
                        self.start(fx)
                    }
                    State::Stopping { pid, since, .. } => {
                        self.state = State::Up { pid, since };
                        fx.push(Effect::Announce);
                    }
                    State::Starting
                    | State::Up { .. }
                    | State::Finishing { .. }
                    | State::Clearing { .. } => fx.push(Effect::Announce),
                }
            }
            Control::Down => self.go_down(now, fx),
            Control::Once => {
                self.want = Want::Once;
                match self.state {
                    State::Down | State::Backoff { .. } => {
                        self.failures = 0;
                        self.start(fx)
                    }
                    State::Starting
                    | State::Up { .. }
                    | State::Stopping { .. }
                    | State::Finishing { .. }
                    | State::Clearing { .. } => fx.push(Effect::Announce),
                }
            }
            Control::Pause | Control::Continue => {
                self.paused = c == Control::Pause;
                fx.push(Effect::Announce);
                self.signal(c, fx);
            }
            Control::Exit => {
                self.exiting = true;
                match self.state {
                    State::Backoff { .. } => self.state = State::Down,
                    State::Down
                    | State::Starting
                    | State::Up { .. }
                    | State::Stopping { .. }
                    | State::Finishing { .. }
                    | State::Clearing { .. } => {}
                }
                fx.push(Effect::Announce);
            }
            Control::Hangup
            | Control::Alarm
            | Control::Interrupt
            | Control::Terminate
            | Control::Kill
            | Control::Quit
            | Control::User1
            | Control::User2
            | Control::Winch => {
                // Whatever the signal does to the run (TERM, KILL, a HUP it does not catch),
                // its end is the operator's doing.
                self.asked |= self.pid().is_some();
                self.signal(c, fx)
            }
        }
    }

    fn signal(&self, c: Control, fx: &mut Effects) {
        if let (Some(pid), Some(sig)) = (self.pid(), c.signal()) {
            fx.push(Effect::Signal(pid, sig));
        }
    }

    /// `d` or a terminating signal: want down; TERM (or `down-signal`) then CONT to a running
    /// service.
    fn go_down(&mut self, now: Instant, fx: &mut Effects) {
        self.want = Want::Down;
        self.paused = false;
        match self.state {
            State::Up { pid, since } => {
                let kill_at = self.config.timeout_kill.map(|t| now + t);
                self.state = State::Stopping {
                    pid,
                    since,
                    kill_at,
                };
                self.asked = true;
                self.term(pid, fx);
            }
            State::Stopping { pid, .. } => self.term(pid, fx),
            State::Backoff { .. } => self.state = State::Down,
            State::Down | State::Starting | State::Finishing { .. } | State::Clearing { .. } => {}
        }
        fx.push(Effect::Announce);
    }

    fn term(&self, pid: Pid, fx: &mut Effects) {
        // compat: daemontools sends TERM then CONT, so a stopped service sees the TERM;
        // `down-signal` (s6) replaces the TERM.
        fx.push(Effect::Signal(pid, self.config.down_signal));
        fx.push(Effect::Signal(pid, libc::SIGCONT));
    }

    fn exited(&mut self, dead: Pid, exit: Exit, now: Instant, fx: &mut Effects) {
        match self.state {
            State::Up { pid, since } | State::Stopping { pid, since, .. } if pid == dead => {
                self.run_exited(pid, since, exit, now, fx)
            }
            State::Finishing {
                pid: Some(pid),
                quick,
                ..
            } if pid == dead => self.after_run(quick, now, fx),
            State::Down
            | State::Starting
            | State::Up { .. }
            | State::Stopping { .. }
            | State::Finishing { .. }
            | State::Clearing { .. }
            | State::Backoff { .. } => {
                // some other descendant (a stray we adopted as subreaper): is its group empty?
                if let Some((group, _)) = self.strays {
                    fx.push(Effect::ProbeStrays(group));
                }
            }
        }
    }

    /// `run` ended: finish first (if any), then restart, back off or stay down; leftovers of its
    /// process group are stopped after the next start, which comes first for a short gap.
    fn run_exited(&mut self, pid: Pid, since: Instant, exit: Exit, now: Instant, fx: &mut Effects) {
        // A limit restart's KILL is for this run only; its leftovers are the strays' now.
        self.limit_kill = None;
        self.ready_warn_at = None;
        if let Exit::Status(status) = exit {
            self.last_exit = Some(status);
        }
        let short = now.saturating_duration_since(since) < self.config.quick;
        // Only a death supervise did not ask for is a failure; a run that lasted, or one the
        // operator ended, starts the count anew (issue 15 item 4: three `svc -t` then a crash
        // backed off 8 s, as the fourth failure).
        let quick = short && !self.asked;
        if !quick {
            self.failures = 0;
        }
        self.state = State::Finishing {
            pid: None,
            kill_at: None,
            quick,
        };
        match self.reach {
            Reach::Group => {
                fx.push(Effect::Finish(exit));
                if let Some((old, _)) = self.strays.take() {
                    fx.push(Effect::SignalGroup(old, libc::SIGKILL));
                }
                self.strays = Some((pid, None));
                fx.push(Effect::StopStrays(pid));
            }
            // Leftovers first: finish (and the next start) come once the cgroup is empty.
            Reach::Cgroup => {
                self.strays = Some((pid, None));
                fx.push(Effect::StopStrays(pid));
                fx.push(Effect::Finish(exit));
            }
        }
    }

    fn finish_started(&mut self, started: Option<Pid>, now: Instant, fx: &mut Effects) {
        match (self.state, started) {
            (
                State::Finishing {
                    pid: None, quick, ..
                },
                Some(pid),
            ) => {
                self.state = State::Finishing {
                    pid: Some(pid),
                    kill_at: self.config.timeout_finish.map(|t| now + t),
                    quick,
                };
                fx.push(Effect::Announce);
            }
            (
                State::Finishing {
                    pid: None, quick, ..
                },
                None,
            ) => self.after_run(quick, now, fx),
            (State::Finishing { pid: Some(_), .. }, _)
            | (State::Down, _)
            | (State::Starting, _)
            | (State::Up { .. }, _)
            | (State::Stopping { .. }, _)
            | (State::Clearing { .. }, _)
            | (State::Backoff { .. }, _) => {}
        }
    }

    /// `run` and `finish` are done: start again, back off, or stay down; on the cgroup path
    /// first wait until what `run` left has gone.
    fn after_run(&mut self, quick: bool, now: Instant, fx: &mut Effects) {
        if self.reach == Reach::Cgroup && self.strays.is_some() {
            self.state = State::Clearing { quick };
            fx.push(Effect::Announce);
            return;
        }
        match (self.exiting, self.want) {
            (false, Want::Up) if !quick => self.start(fx),
            (false, Want::Up) => self.back_off(BackoffCause::QuickExit, now, fx),
            (true, _) | (false, Want::Down | Want::Once) => {
                self.state = State::Down;
                fx.push(Effect::Announce);
            }
        }
    }

    fn back_off(&mut self, cause: BackoffCause, now: Instant, fx: &mut Effects) {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(30);
        let delay = self
            .config
            .backoff_first
            .saturating_mul(1 << doublings)
            .min(self.config.backoff_max);
        let until = now + delay + self.jitter(delay);
        self.state = State::Backoff { until, cause };
        fx.push(Effect::Announce);
    }

    /// Up to 1/8 of `delay`, so a fleet of services does not restart in step (xorshift64).
    fn jitter(&mut self, delay: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let span = delay.as_micros() as u64 / 8;
        Duration::from_micros(self.rng % (span + 1))
    }

    fn started(&mut self, result: Result<(Pid, Readiness), i32>, now: Instant, fx: &mut Effects) {
        match (self.state, result) {
            (State::Starting, Ok((pid, readiness))) => {
                if self.started_once {
                    self.restarts = self.restarts.saturating_add(1);
                }
                self.started_once = true;
                self.state = State::Up { pid, since: now };
                self.readiness = readiness;
                match readiness {
                    // Published after the `u` this announce shows.
                    Readiness::Ready => fx.push(Effect::Publish(Event::Ready)),
                    Readiness::Waiting => {
                        self.ready_warn_at = self.config.ready_timeout.map(|t| now + t)
                    }
                }
                fx.push(Effect::Announce);
            }
            (State::Starting, Err(_)) => match self.want {
                Want::Up => self.back_off(BackoffCause::StartFailed, now, fx),
                Want::Down | Want::Once => {
                    self.state = State::Down;
                    fx.push(Effect::Announce);
                }
            },
            (State::Down, _)
            | (State::Up { .. }, _)
            | (State::Stopping { .. }, _)
            | (State::Finishing { .. }, _)
            | (State::Clearing { .. }, _)
            | (State::Backoff { .. }, _) => {}
        }
    }

    fn strays_left(&mut self, left: bool, now: Instant, fx: &mut Effects) {
        self.strays = match (self.strays, left) {
            (Some((group, None)), true) => Some((group, Some(now + STRAY_GRACE))),
            (Some((group, Some(at))), true) => Some((group, Some(at))),
            (Some(_), false) | (None, _) => None,
        };
        match self.state {
            State::Clearing { quick } if self.strays.is_none() => self.after_run(quick, now, fx),
            State::Down
            | State::Starting
            | State::Up { .. }
            | State::Stopping { .. }
            | State::Finishing { .. }
            | State::Clearing { .. }
            | State::Backoff { .. } => {}
        }
    }

    fn timeout(&mut self, now: Instant, fx: &mut Effects) {
        match self.state {
            State::Stopping {
                pid,
                since,
                kill_at: Some(at),
            } if at <= now => {
                self.state = State::Stopping {
                    pid,
                    since,
                    kill_at: None,
                };
                // the pid too: an adopted run from daemontools' supervise leads no group
                fx.push(Effect::Signal(pid, libc::SIGKILL));
                fx.push(self.kill_all(pid));
            }
            State::Finishing {
                pid: Some(pid),
                kill_at: Some(at),
                quick,
            } if at <= now => {
                self.state = State::Finishing {
                    pid: Some(pid),
                    kill_at: None,
                    quick,
                };
                fx.push(Effect::SignalGroup(pid, libc::SIGKILL));
            }
            State::Backoff { until, .. } if until <= now => self.start(fx),
            State::Down
            | State::Starting
            | State::Up { .. }
            | State::Stopping { .. }
            | State::Finishing { .. }
            | State::Clearing { .. }
            | State::Backoff { .. } => {}
        }
        if let Some((group, Some(at))) = self.strays {
            if at <= now {
                match self.reach {
                    Reach::Group => {
                        self.strays = None;
                        fx.push(Effect::SignalGroup(group, libc::SIGKILL));
                    }
                    // Wait for the cgroup to empty (its kill is not instant); KILL again
                    // every STRAY_GRACE while something (in D state) outlives it.
                    Reach::Cgroup => {
                        self.strays = Some((group, Some(now + STRAY_GRACE)));
                        fx.push(Effect::KillCgroup);
                    }
                }
            }
        }
        if self.ready_warn_at.is_some_and(|at| at <= now) {
            self.ready_warn_at = None;
            match (self.state, self.readiness) {
                (State::Up { pid, .. }, Readiness::Waiting) => fx.push(Effect::NotReady(pid)),
                (State::Up { .. }, Readiness::Ready)
                | (State::Down, _)
                | (State::Starting, _)
                | (State::Stopping { .. }, _)
                | (State::Finishing { .. }, _)
                | (State::Clearing { .. }, _)
                | (State::Backoff { .. }, _) => {}
            }
        }
        if let Some((group, at)) = self.limit_kill {
            if at <= now {
                self.limit_kill = None;
                // Only if that run is still the one shown: else it has gone already.
                if self.pid() == Some(group) {
                    fx.push(self.kill_all(group));
                }
            }
        }
    }

    /// `sig` to everything of the run led by `group`: its process group, or its cgroup.
    fn signal_all(&self, group: Pid, sig: i32) -> Effect {
        match self.reach {
            Reach::Group => Effect::SignalGroup(group, sig),
            Reach::Cgroup => Effect::SignalCgroup(sig),
        }
    }

    /// KILL to everything of the run led by `group`.
    fn kill_all(&self, group: Pid) -> Effect {
        match self.reach {
            Reach::Group => Effect::SignalGroup(group, libc::SIGKILL),
            Reach::Cgroup => Effect::KillCgroup,
        }
    }

    /// The run notified readiness: news only while it was waiting, and while a run is there
    /// to be ready; then `U` is published and the status shows it up.
    fn ready(&mut self, fx: &mut Effects) {
        match (self.state, self.readiness) {
            (State::Up { .. } | State::Stopping { .. }, Readiness::Waiting) => {
                self.readiness = Readiness::Ready;
                self.ready_warn_at = None;
                fx.push(Effect::Publish(Event::Ready));
                fx.push(Effect::Announce);
            }
            (State::Up { .. } | State::Stopping { .. }, Readiness::Ready)
            | (State::Down, _)
            | (State::Starting, _)
            | (State::Finishing { .. }, _)
            | (State::Clearing { .. }, _)
            | (State::Backoff { .. }, _) => {}
        }
    }

    /// A sample of the run passed a limit: publish it, then do what `on-limit` says.
    fn breach(&mut self, action: Action, now: Instant, fx: &mut Effects) {
        let pid = match self.state {
            State::Up { pid, .. } | State::Stopping { pid, .. } => pid,
            // Sampling follows the pid shown: without one there is nothing to breach.
            State::Down
            | State::Starting
            | State::Finishing { .. }
            | State::Clearing { .. }
            | State::Backoff { .. } => return,
        };
        fx.push(Effect::Publish(Event::Limit));
        fx.push(Effect::Announce);
        match action {
            Action::Restart => {
                if self.limit_kill.is_none() {
                    let after = self.config.timeout_kill.unwrap_or(RESTART_KILL_AFTER);
                    self.limit_kill = Some((pid, now + after));
                    fx.push(self.signal_all(pid, libc::SIGTERM));
                    fx.push(self.signal_all(pid, libc::SIGCONT));
                }
                // else: already restarting
            }
            Action::Stop => self.go_down(now, fx),
            Action::Signal(signal) => fx.push(self.signal_all(pid, signal as i32)),
            Action::Notify => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Effect::*;

    const TERM: i32 = libc::SIGTERM;
    const CONT: i32 = libc::SIGCONT;
    const KILL: i32 = libc::SIGKILL;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn fx(sup: &mut Supervisor, input: Input, now: Instant) -> Vec<Effect> {
        sup.on(input, now).as_slice().collect()
    }

    fn up(pid: Pid, t0: Instant) -> Supervisor {
        let mut s = Supervisor::new(Config::default(), Want::Up, 7);
        assert_eq!(s.boot().as_slice().collect::<Vec<_>>(), [Start]);
        assert_eq!(
            fx(&mut s, Input::Started(Ok((pid, Readiness::Ready))), t0),
            [Publish(Event::Ready), Announce]
        );
        s
    }

    #[test]
    fn boot_starts_unless_down_file() {
        let mut s = Supervisor::new(Config::default(), Want::Down, 1);
        assert_eq!(s.boot(), Effects::default());
        assert_eq!(s.state, State::Down);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn long_run_exit_restarts_first_then_announces() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        let t1 = t0 + secs(2);
        assert_eq!(
            fx(&mut s, Input::Exited(10, Exit::Status(0)), t1),
            [Finish(Exit::Status(0)), StopStrays(10)]
        );
        assert_eq!(fx(&mut s, Input::FinishStarted(None), t1), [Start]);
        assert_eq!(
            fx(&mut s, Input::Started(Ok((11, Readiness::Ready))), t1),
            [Publish(Event::Ready), Announce]
        );
        assert_eq!(s.state, State::Up { pid: 11, since: t1 });
        assert_eq!(s.restarts, 1);
        assert_eq!(s.last_exit, Some(0));
        // the old group is empty: nothing to wait for
        assert_eq!(fx(&mut s, Input::StraysLeft(false), t1), []);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn quick_exits_back_off_doubling_to_the_cap() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        s.config.backoff_max = secs(4);
        let mut now = t0;
        let mut pid = 10;
        for expected in [1, 2, 4, 4] {
            fx(&mut s, Input::Exited(pid, Exit::Status(256)), now);
            fx(&mut s, Input::StraysLeft(false), now);
            assert_eq!(fx(&mut s, Input::FinishStarted(None), now), [Announce]);
            let (cause, until) = s.backoff().expect("in backoff");
            assert_eq!(cause, BackoffCause::QuickExit);
            let delay = until - now;
            assert!(
                delay >= secs(expected) && delay <= secs(expected) * 9 / 8,
                "{delay:?}"
            );
            assert_eq!(s.deadline(), Some(until));
            assert_eq!(
                fx(&mut s, Input::Timeout, until - Duration::from_millis(1)),
                []
            );
            assert_eq!(fx(&mut s, Input::Timeout, until), [Start]);
            pid += 1;
            now = until;
            fx(&mut s, Input::Started(Ok((pid, Readiness::Ready))), now);
        }
        // a run of at least 1 s resets the sequence
        now += secs(1);
        fx(&mut s, Input::Exited(pid, Exit::Status(0)), now);
        assert_eq!(fx(&mut s, Input::FinishStarted(None), now), [Start]);
    }

    /// Runs `run` (pid `pid`) to a quick exit of its own at `now` and returns the backoff
    /// delay it gets.
    fn crash(s: &mut Supervisor, pid: Pid, now: Instant) -> Duration {
        fx(s, Input::Exited(pid, Exit::Status(256)), now);
        fx(s, Input::StraysLeft(false), now);
        assert_eq!(fx(s, Input::FinishStarted(None), now), [Announce]);
        let (cause, until) = s.backoff().expect("in backoff");
        assert_eq!(cause, BackoffCause::QuickExit);
        until - now
    }

    #[test]
    fn operator_restarts_are_not_failures_issue_15() {
        // Three `svc -t` in a row, each soon after the start, then a crash of its own: the
        // crash is a first failure (1 s and its jitter), not the fourth (8 s).
        let t0 = Instant::now();
        let mut s = up(10, t0);
        let mut pid = 10;
        let mut now = t0;
        for _ in 0..3 {
            now += Duration::from_millis(100);
            assert_eq!(
                fx(&mut s, Input::Control(Control::Terminate), now),
                [Signal(pid, TERM)]
            );
            fx(&mut s, Input::Exited(pid, Exit::Status(TERM)), now);
            fx(&mut s, Input::StraysLeft(false), now);
            assert_eq!(fx(&mut s, Input::FinishStarted(None), now), [Start]);
            pid += 1;
            fx(&mut s, Input::Started(Ok((pid, Readiness::Ready))), now);
        }
        assert_eq!(s.failures, 0);
        let delay = crash(&mut s, pid, now + Duration::from_millis(100));
        assert!(delay >= secs(1) && delay <= secs(1) * 9 / 8, "{delay:?}");
        assert_eq!(s.failures, 1);
    }

    #[test]
    fn down_then_up_starts_the_count_anew_issue_15() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        let mut pid = 10;
        let mut now = t0;
        // Six crashes: the next delay would be 32 s, then 60.
        for _ in 0..6 {
            now += crash(&mut s, pid, now);
            assert_eq!(fx(&mut s, Input::Timeout, now), [Start]);
            pid += 1;
            fx(&mut s, Input::Started(Ok((pid, Readiness::Ready))), now);
        }
        assert_eq!(s.failures, 6);
        // `svc -d` half a second after the start: the stop is no failure...
        now += Duration::from_millis(500);
        fx(&mut s, Input::Control(Control::Down), now);
        fx(&mut s, Input::Exited(pid, Exit::Status(TERM)), now);
        fx(&mut s, Input::StraysLeft(false), now);
        assert_eq!(fx(&mut s, Input::FinishStarted(None), now), [Announce]);
        assert_eq!(s.state, State::Down);
        // ... and `svc -u` starts afresh: a crash now is a first failure.
        now += secs(10);
        assert_eq!(fx(&mut s, Input::Control(Control::Up), now), [Start]);
        pid += 1;
        fx(&mut s, Input::Started(Ok((pid, Readiness::Ready))), now);
        let delay = crash(&mut s, pid, now + Duration::from_millis(100));
        assert!(delay <= secs(1) * 9 / 8, "{delay:?}");
    }

    #[test]
    fn a_run_that_lasted_resets_the_count_even_when_stopped() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        let mut now = t0 + crash(&mut s, 10, t0);
        fx(&mut s, Input::Timeout, now);
        fx(&mut s, Input::Started(Ok((11, Readiness::Ready))), now);
        assert_eq!(s.failures, 1);
        // Up for an hour, then stopped: want down, and the count starts anew.
        now += secs(3600);
        fx(&mut s, Input::Control(Control::Down), now);
        fx(&mut s, Input::Exited(11, Exit::Status(TERM)), now);
        fx(&mut s, Input::FinishStarted(None), now);
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn up_during_backoff_starts_the_count_anew() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        crash(&mut s, 10, t0);
        fx(&mut s, Input::Control(Control::Up), t0);
        fx(&mut s, Input::Started(Ok((11, Readiness::Ready))), t0);
        assert_eq!(s.failures, 0);
        let delay = crash(&mut s, 11, t0);
        assert!(delay <= secs(1) * 9 / 8, "{delay:?}");
    }

    #[test]
    fn up_during_backoff_starts_at_once() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t0);
        fx(&mut s, Input::FinishStarted(None), t0);
        assert!(s.backoff().is_some());
        assert_eq!(fx(&mut s, Input::Control(Control::Up), t0), [Start]);
        assert_eq!(s.state, State::Starting);
    }

    #[test]
    fn start_failure_backs_off_and_never_gives_up() {
        let mut s = Supervisor::new(Config::default(), Want::Up, 3);
        s.boot();
        let t0 = Instant::now();
        assert_eq!(
            fx(&mut s, Input::Started(Err(libc::ENOENT)), t0),
            [Announce]
        );
        assert_eq!(s.backoff().map(|b| b.0), Some(BackoffCause::StartFailed));
        let mut now = t0;
        for _ in 0..40 {
            now = s.deadline().expect("deadline");
            assert_eq!(fx(&mut s, Input::Timeout, now), [Start]);
            fx(&mut s, Input::Started(Err(libc::EACCES)), now);
        }
        let delay = s.deadline().expect("deadline") - now;
        assert!(delay >= secs(60) && delay <= secs(68), "{delay:?}");
    }

    #[test]
    fn down_sends_term_cont_and_kills_group_after_timeout() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        s.config.timeout_kill = Some(secs(3));
        assert_eq!(
            fx(&mut s, Input::Control(Control::Down), t0),
            [Signal(10, TERM), Signal(10, CONT), Announce]
        );
        assert_eq!(s.want, Want::Down);
        assert_eq!(s.deadline(), Some(t0 + secs(3)));
        assert_eq!(
            fx(&mut s, Input::Timeout, t0 + secs(3)),
            [Signal(10, KILL), SignalGroup(10, KILL)]
        );
        assert_eq!(s.deadline(), None);
        fx(&mut s, Input::Exited(10, Exit::Status(KILL)), t0 + secs(4));
        assert_eq!(
            fx(&mut s, Input::FinishStarted(None), t0 + secs(4)),
            [Announce]
        );
        assert_eq!(s.state, State::Down);
    }

    #[test]
    fn down_signal_replaces_term_for_d_and_terminate_and_kill_still_follows() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        s.config.down_signal = libc::SIGINT;
        s.config.timeout_kill = Some(secs(3));
        assert_eq!(
            fx(&mut s, Input::Control(Control::Down), t0),
            [Signal(10, libc::SIGINT), Signal(10, CONT), Announce]
        );
        assert_eq!(
            fx(&mut s, Input::Timeout, t0 + secs(3)),
            [Signal(10, KILL), SignalGroup(10, KILL)]
        );
        let mut s = up(11, t0);
        s.config.down_signal = libc::SIGQUIT;
        assert_eq!(
            fx(&mut s, Input::Terminate, t0),
            [Signal(11, libc::SIGQUIT), Signal(11, CONT), Announce]
        );
        // `t` is still TERM: only the stop changes.
        let mut s = up(12, t0);
        s.config.down_signal = libc::SIGINT;
        assert_eq!(
            fx(&mut s, Input::Control(Control::Terminate), t0),
            [Signal(12, TERM)]
        );
    }

    #[test]
    fn up_while_stopping_keeps_it_and_restarts_on_exit() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        fx(&mut s, Input::Control(Control::Down), t0);
        assert_eq!(fx(&mut s, Input::Control(Control::Up), t0), [Announce]);
        assert_eq!(s.state, State::Up { pid: 10, since: t0 });
    }

    #[test]
    fn once_starts_and_does_not_restart() {
        let mut s = Supervisor::new(Config::default(), Want::Down, 1);
        let t0 = Instant::now();
        assert_eq!(fx(&mut s, Input::Control(Control::Once), t0), [Start]);
        fx(&mut s, Input::Started(Ok((5, Readiness::Ready))), t0);
        fx(&mut s, Input::Exited(5, Exit::Status(0)), t0 + secs(5));
        assert_eq!(
            fx(&mut s, Input::FinishStarted(None), t0 + secs(5)),
            [Announce]
        );
        assert_eq!(s.state, State::Down);
    }

    #[test]
    fn signal_controls_reach_only_a_running_service() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        let table = [
            (Control::Hangup, libc::SIGHUP),
            (Control::Alarm, libc::SIGALRM),
            (Control::Interrupt, libc::SIGINT),
            (Control::Terminate, TERM),
            (Control::Kill, KILL),
            (Control::Quit, libc::SIGQUIT),
            (Control::User1, libc::SIGUSR1),
            (Control::User2, libc::SIGUSR2),
            (Control::Winch, libc::SIGWINCH),
        ];
        for (c, sig) in table {
            assert_eq!(
                fx(&mut s, Input::Control(c), t0),
                [Signal(10, sig)],
                "{c:?}"
            );
        }
        assert_eq!(
            fx(&mut s, Input::Control(Control::Pause), t0),
            [Announce, Signal(10, libc::SIGSTOP)]
        );
        assert!(s.paused);
        assert_eq!(
            fx(&mut s, Input::Control(Control::Continue), t0),
            [Announce, Signal(10, CONT)]
        );
        let mut down = Supervisor::new(Config::default(), Want::Down, 1);
        for (c, _) in table {
            assert_eq!(fx(&mut down, Input::Control(c), t0), [], "{c:?}");
        }
    }

    #[test]
    fn exit_waits_for_the_service_then_finishes() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        assert_eq!(fx(&mut s, Input::Control(Control::Exit), t0), [Announce]);
        assert!(!s.finished());
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t0 + secs(2));
        assert_eq!(
            fx(&mut s, Input::FinishStarted(None), t0 + secs(2)),
            [Announce]
        );
        assert!(!s.finished(), "strays not yet checked");
        fx(&mut s, Input::StraysLeft(false), t0 + secs(2));
        assert!(s.finished());
    }

    #[test]
    fn exit_when_down_is_immediate() {
        let mut s = Supervisor::new(Config::default(), Want::Down, 1);
        fx(&mut s, Input::Control(Control::Exit), Instant::now());
        assert!(s.finished());
    }

    #[test]
    fn terminate_brings_down_then_finishes() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        assert_eq!(
            fx(&mut s, Input::Terminate, t0),
            [Signal(10, TERM), Signal(10, CONT), Announce]
        );
        fx(&mut s, Input::Exited(10, Exit::Status(TERM)), t0);
        fx(&mut s, Input::StraysLeft(false), t0);
        fx(&mut s, Input::FinishStarted(None), t0);
        assert!(s.finished());
        assert_eq!(s.last_exit, Some(TERM));
    }

    #[test]
    fn finish_runs_before_restart_and_is_killed_after_timeout() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        let t1 = t0 + secs(2);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t1);
        assert_eq!(fx(&mut s, Input::FinishStarted(Some(20)), t1), [Announce]);
        assert_eq!(s.pid(), None);
        assert_eq!(s.deadline(), Some(t1 + secs(5)));
        assert_eq!(fx(&mut s, Input::StraysLeft(false), t1), []);
        assert_eq!(
            fx(&mut s, Input::Timeout, t1 + secs(5)),
            [SignalGroup(20, KILL)]
        );
        assert_eq!(
            fx(&mut s, Input::Exited(20, Exit::Status(KILL)), t1 + secs(5)),
            [Start]
        );
    }

    #[test]
    fn strays_get_term_then_kill_after_grace() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        let t1 = t0 + secs(2);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t1);
        fx(&mut s, Input::FinishStarted(None), t1);
        fx(&mut s, Input::Started(Ok((11, Readiness::Ready))), t1);
        fx(&mut s, Input::StraysLeft(true), t1);
        assert_eq!(s.deadline(), Some(t1 + STRAY_GRACE));
        // a reaped stray: probe whether the group is empty yet
        assert_eq!(
            fx(&mut s, Input::Exited(99, Exit::Status(0)), t1),
            [ProbeStrays(10)]
        );
        fx(&mut s, Input::StraysLeft(true), t1);
        assert_eq!(
            fx(&mut s, Input::Timeout, t1 + STRAY_GRACE),
            [SignalGroup(10, KILL)]
        );
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn adopted_exit_restarts_with_unknown_status() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Config::default(), Want::Up, 1);
        s.adopt(42, t0);
        assert_eq!(s.pid(), Some(42));
        assert_eq!(
            fx(&mut s, Input::Exited(42, Exit::Unknown), t0 + secs(3)),
            [Finish(Exit::Unknown), StopStrays(42)]
        );
        assert_eq!(s.last_exit, None);
        assert_eq!(
            fx(&mut s, Input::FinishStarted(None), t0 + secs(3)),
            [Start]
        );
        fx(
            &mut s,
            Input::Started(Ok((43, Readiness::Ready))),
            t0 + secs(3),
        );
        assert_eq!(s.restarts, 1);
    }

    #[test]
    fn down_during_backoff_cancels_it() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t0);
        fx(&mut s, Input::FinishStarted(None), t0);
        assert_eq!(fx(&mut s, Input::Control(Control::Down), t0), [Announce]);
        assert_eq!(s.state, State::Down);
    }

    #[test]
    fn a_run_that_notifies_is_starting_until_it_says_ready() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Config::default(), Want::Up, 7);
        s.boot();
        assert_eq!(
            fx(&mut s, Input::Started(Ok((10, Readiness::Waiting))), t0),
            [Announce]
        );
        assert_eq!(s.word(), status::State::Starting);
        assert_eq!(s.pid(), Some(10));
        assert_eq!(
            fx(&mut s, Input::Ready, t0 + secs(1)),
            [Publish(Event::Ready), Announce]
        );
        assert_eq!(s.word(), status::State::Up);
        // Said again (NOTIFY_SOCKET): no news.
        assert_eq!(fx(&mut s, Input::Ready, t0 + secs(2)), []);
        // The next run waits again.
        let t3 = t0 + secs(3);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t3);
        fx(&mut s, Input::FinishStarted(None), t3);
        fx(&mut s, Input::Started(Ok((11, Readiness::Waiting))), t3);
        assert_eq!(s.word(), status::State::Starting);
        // Told to stop before it is ready, then up again: still starting until it says so.
        fx(&mut s, Input::Control(Control::Down), t3);
        assert_eq!(s.word(), status::State::Stopping);
        fx(&mut s, Input::Control(Control::Up), t3);
        assert_eq!(s.word(), status::State::Starting);
        assert_eq!(
            fx(&mut s, Input::Ready, t3),
            [Publish(Event::Ready), Announce]
        );
        assert_eq!(s.word(), status::State::Up);
    }

    #[test]
    fn ready_timeout_warns_once_unless_ready_in_time() {
        let t0 = Instant::now();
        let config = Config {
            ready_timeout: Some(secs(5)),
            ..Config::default()
        };
        let mut s = Supervisor::new(config, Want::Up, 7);
        s.boot();
        fx(&mut s, Input::Started(Ok((10, Readiness::Waiting))), t0);
        assert_eq!(s.deadline(), Some(t0 + secs(5)));
        assert_eq!(fx(&mut s, Input::Timeout, t0 + secs(4)), []);
        assert_eq!(fx(&mut s, Input::Timeout, t0 + secs(5)), [NotReady(10)]);
        assert_eq!(s.deadline(), None, "once: then no wake-up");
        assert_eq!(s.word(), status::State::Starting, "still starting");
        // Ready late: nothing more to warn about.
        fx(&mut s, Input::Ready, t0 + secs(6));
        assert_eq!(s.deadline(), None);
        // The next run: ready in time, no warning and no deadline left.
        let t1 = t0 + secs(10);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t1);
        fx(&mut s, Input::FinishStarted(None), t1);
        fx(&mut s, Input::Started(Ok((11, Readiness::Waiting))), t1);
        assert_eq!(s.deadline(), Some(t1 + secs(5)));
        fx(&mut s, Input::Ready, t1 + secs(1));
        assert_eq!(s.deadline(), None);
        // A run that exits before its deadline takes it along.
        let t2 = t1 + secs(20);
        fx(&mut s, Input::Exited(11, Exit::Status(0)), t2);
        fx(&mut s, Input::FinishStarted(None), t2);
        fx(&mut s, Input::Started(Ok((12, Readiness::Waiting))), t2);
        fx(&mut s, Input::Exited(12, Exit::Status(0)), t2 + secs(2));
        assert_ne!(s.deadline(), Some(t2 + secs(5)));
        // Without a protocol (ready at once) no deadline is set.
        let mut s = Supervisor::new(config, Want::Up, 7);
        s.boot();
        fx(&mut s, Input::Started(Ok((13, Readiness::Ready))), t0);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn a_run_without_a_protocol_is_ready_once_started_and_late_messages_are_ignored() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        assert_eq!(s.word(), status::State::Up);
        assert_eq!(fx(&mut s, Input::Ready, t0), []);
        // A message after the run exited (a stray holding the socket) changes nothing.
        let t1 = t0 + secs(2);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t1);
        assert!(matches!(s.state, State::Finishing { .. }));
        s.readiness = Readiness::Waiting;
        assert_eq!(fx(&mut s, Input::Ready, t1), []);
        let mut down = Supervisor::new(Config::default(), Want::Down, 1);
        down.readiness = Readiness::Waiting;
        assert_eq!(fx(&mut down, Input::Ready, t0), []);
    }

    #[test]
    fn an_adopted_run_is_ready() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Config::default(), Want::Up, 7);
        let adopted: Vec<Effect> = s.adopt(42, t0).as_slice().collect();
        assert_eq!(adopted, [Publish(Event::Ready)]);
        assert_eq!((s.word(), s.pid()), (status::State::Up, Some(42)));
        assert_eq!(s.boot(), Effects::default());
    }

    #[test]
    fn breach_notify_publishes_and_announces_only() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        assert_eq!(
            fx(&mut s, Input::Breach(Action::Notify), t0),
            [Publish(Event::Limit), Announce]
        );
        assert_eq!(s.state, State::Up { pid: 10, since: t0 });
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn breach_restart_terms_the_group_once_then_kills_it_after_the_timeout() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        let t1 = t0 + secs(1);
        assert_eq!(
            fx(&mut s, Input::Breach(Action::Restart), t1),
            [
                Publish(Event::Limit),
                Announce,
                SignalGroup(10, TERM),
                SignalGroup(10, CONT)
            ]
        );
        assert_eq!(s.deadline(), Some(t1 + RESTART_KILL_AFTER));
        // Another breach while restarting: published, no second TERM nor a later KILL.
        assert_eq!(
            fx(&mut s, Input::Breach(Action::Restart), t1 + secs(1)),
            [Publish(Event::Limit), Announce]
        );
        assert_eq!(s.deadline(), Some(t1 + RESTART_KILL_AFTER));
        let t2 = t1 + RESTART_KILL_AFTER;
        assert_eq!(fx(&mut s, Input::Timeout, t2), [SignalGroup(10, KILL)]);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn breach_restart_waits_timeout_kill_and_forgets_the_kill_once_the_run_exits() {
        let t0 = Instant::now();
        let config = Config {
            timeout_kill: Some(Duration::from_millis(300)),
            ..Config::default()
        };
        let mut s = Supervisor::new(config, Want::Up, 7);
        s.boot();
        fx(&mut s, Input::Started(Ok((10, Readiness::Ready))), t0);
        let t1 = t0 + secs(2);
        fx(&mut s, Input::Breach(Action::Restart), t1);
        assert_eq!(s.deadline(), Some(t1 + Duration::from_millis(300)));
        // It exits on the TERM: restarted at once, and no KILL is left for anyone.
        let t2 = t1 + Duration::from_millis(100);
        assert_eq!(
            fx(&mut s, Input::Exited(10, Exit::Status(TERM)), t2),
            [Finish(Exit::Status(TERM)), StopStrays(10)]
        );
        fx(&mut s, Input::FinishStarted(None), t2);
        fx(&mut s, Input::Started(Ok((11, Readiness::Ready))), t2);
        fx(&mut s, Input::StraysLeft(false), t2);
        assert_eq!(s.deadline(), None);
        assert_eq!(fx(&mut s, Input::Timeout, t1 + secs(1)), []);
    }

    #[test]
    fn breach_stop_takes_the_service_down_as_svc_d() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        assert_eq!(
            fx(&mut s, Input::Breach(Action::Stop), t0),
            [
                Publish(Event::Limit),
                Announce,
                Signal(10, TERM),
                Signal(10, CONT),
                Announce
            ]
        );
        assert_eq!(s.want, Want::Down);
        assert!(matches!(s.state, State::Stopping { pid: 10, .. }));
    }

    #[test]
    fn breach_signal_goes_to_the_group_and_nothing_else() {
        let t0 = Instant::now();
        let mut s = up(10, t0);
        assert_eq!(
            fx(
                &mut s,
                Input::Breach(Action::Signal(nix::sys::signal::Signal::SIGUSR1)),
                t0
            ),
            [
                Publish(Event::Limit),
                Announce,
                SignalGroup(10, libc::SIGUSR1)
            ]
        );
        assert_eq!(s.state, State::Up { pid: 10, since: t0 });
    }

    #[test]
    fn breach_without_a_run_is_ignored() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Config::default(), Want::Down, 1);
        assert_eq!(fx(&mut s, Input::Breach(Action::Restart), t0), []);
        assert_eq!(s.deadline(), None);
    }

    /// A run on the cgroup path (issue 14).
    fn up_in_cgroup(pid: Pid, t0: Instant) -> Supervisor {
        let mut s = Supervisor::new(Config::default(), Want::Up, 7);
        s.reach = Reach::Cgroup;
        s.boot();
        fx(&mut s, Input::Started(Ok((pid, Readiness::Ready))), t0);
        s
    }

    #[test]
    fn cgroup_exit_without_leftovers_restarts_at_once() {
        let t0 = Instant::now();
        let mut s = up_in_cgroup(10, t0);
        let t1 = t0 + secs(2);
        assert_eq!(
            fx(&mut s, Input::Exited(10, Exit::Status(0)), t1),
            [StopStrays(10), Finish(Exit::Status(0))]
        );
        // the loop answers StopStrays first: the cgroup is empty
        assert_eq!(fx(&mut s, Input::StraysLeft(false), t1), []);
        assert_eq!(fx(&mut s, Input::FinishStarted(None), t1), [Start]);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn cgroup_leftovers_die_before_the_next_start() {
        let t0 = Instant::now();
        let mut s = up_in_cgroup(10, t0);
        let t1 = t0 + secs(2);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t1);
        assert_eq!(fx(&mut s, Input::StraysLeft(true), t1), []);
        // finish is done, but the cgroup is not empty: no start yet, shown as finishing
        assert_eq!(fx(&mut s, Input::FinishStarted(None), t1), [Announce]);
        assert_eq!(s.state, State::Clearing { quick: false });
        assert_eq!(s.word(), status::State::Finishing);
        assert_eq!(s.pid(), None);
        assert_eq!(s.deadline(), Some(t1 + STRAY_GRACE));
        // the cgroup empties (cgroup.events): start now
        assert_eq!(fx(&mut s, Input::StraysLeft(false), t1), [Start]);
    }

    #[test]
    fn cgroup_leftovers_that_outlive_the_grace_are_killed_and_waited_for() {
        let t0 = Instant::now();
        let mut s = up_in_cgroup(10, t0);
        let t1 = t0 + secs(2);
        fx(&mut s, Input::Exited(10, Exit::Status(0)), t1);
        fx(&mut s, Input::StraysLeft(true), t1);
        fx(&mut s, Input::FinishStarted(None), t1);
        let t2 = t1 + STRAY_GRACE;
        assert_eq!(fx(&mut s, Input::Timeout, t2), [KillCgroup]);
        // the kill is not instant: still waiting, another KILL one grace later if need be
        assert_eq!(fx(&mut s, Input::StraysLeft(true), t2), []);
        assert_eq!(s.state, State::Clearing { quick: false });
        assert_eq!(s.deadline(), Some(t2 + STRAY_GRACE));
        assert_eq!(fx(&mut s, Input::StraysLeft(false), t2), [Start]);
    }

    #[test]
    fn cgroup_stop_is_down_only_once_the_cgroup_is_empty() {
        let t0 = Instant::now();
        let mut s = up_in_cgroup(10, t0);
        // compat: TERM and CONT to run, as daemontools
        assert_eq!(
            fx(&mut s, Input::Control(Control::Down), t0),
            [Signal(10, TERM), Signal(10, CONT), Announce]
        );
        fx(&mut s, Input::Exited(10, Exit::Status(TERM)), t0);
        fx(&mut s, Input::StraysLeft(true), t0);
        assert_eq!(fx(&mut s, Input::FinishStarted(None), t0), [Announce]);
        assert_eq!(s.word(), status::State::Finishing);
        // `u` meanwhile: the start still waits for the cgroup
        assert_eq!(fx(&mut s, Input::Control(Control::Down), t0), [Announce]);
        assert_eq!(fx(&mut s, Input::StraysLeft(false), t0), [Announce]);
        assert_eq!(s.state, State::Down);
    }

    #[test]
    fn cgroup_limit_restart_and_timeout_kill_reach_the_cgroup() {
        let t0 = Instant::now();
        let mut s = up_in_cgroup(10, t0);
        assert_eq!(
            fx(&mut s, Input::Breach(Action::Restart), t0),
            [
                Publish(Event::Limit),
                Announce,
                SignalCgroup(TERM),
                SignalCgroup(CONT)
            ]
        );
        assert_eq!(
            fx(&mut s, Input::Timeout, t0 + RESTART_KILL_AFTER),
            [KillCgroup]
        );
        let mut s = up_in_cgroup(10, t0);
        s.config.timeout_kill = Some(secs(1));
        fx(&mut s, Input::Control(Control::Down), t0);
        assert_eq!(
            fx(&mut s, Input::Timeout, t0 + secs(1)),
            [Signal(10, KILL), KillCgroup]
        );
    }

    #[test]
    fn cgroup_leftovers_of_a_killed_supervise_go_before_the_first_start() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(Config::default(), Want::Up, 7);
        s.reach = Reach::Cgroup;
        assert_eq!(
            s.clear_leftovers().as_slice().collect::<Vec<_>>(),
            [StopStrays(0)]
        );
        assert_eq!(fx(&mut s, Input::StraysLeft(false), t0), [Start]);
        let mut s = Supervisor::new(Config::default(), Want::Down, 7);
        s.reach = Reach::Cgroup;
        s.clear_leftovers();
        assert_eq!(fx(&mut s, Input::StraysLeft(false), t0), [Announce]);
        assert_eq!(s.state, State::Down);
    }
}

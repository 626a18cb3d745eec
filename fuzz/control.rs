//! The control target's body (fuzz/fuzz_targets/control.rs): control bytes and everything
//! else that wakes supervise, through its state machine (supervise/state.rs).
//!
//! It needs supervise's module tree at the crate root (`crate::state`, which uses
//! `crate::limits` and `crate::events`), so it is not in targets.rs: the fuzz crate mirrors
//! supervise's modules (fuzz/src/lib.rs), and supervise's own unit tests run it over
//! fuzz/seeds/control/ and generated inputs (`supervise/main.rs` includes this file).

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use vigil_proto::control::Control;

use crate::limits::Action;
use crate::state::{Config, Effect, Exit, Input, Pid, Reach, Readiness, Supervisor, Want};

/// The control bytes (and everything else that wakes supervise) through supervise's state
/// machine: each byte of `data` is a control byte if it is one, else a child's exit, a timeout,
/// a terminating signal or time passing; the answers to its effects (a start that works or
/// fails, strays left or not) come from the next bytes. Never a panic (no more effects than
/// `Effects` holds, no time overflow), never a start while the service is wanted down or a
/// run lives, never a signal to a process that is not the run or finish.
pub fn control(data: &[u8]) {
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next().unwrap_or(0);
    const MS: [u64; 6] = [0, 1, 1000, 60_000, u32::MAX as u64, u64::MAX];
    let pick = |b: u8| MS[usize::from(b) % MS.len()];
    let first = pick(next()).max(1);
    let config = Config {
        backoff_first: Duration::from_millis(first),
        backoff_max: Duration::from_millis(pick(next()).max(first)),
        quick: Duration::from_millis(pick(next())),
        timeout_kill: Some(pick(next()))
            .filter(|&ms| ms != 0)
            .map(Duration::from_millis),
        timeout_finish: Some(pick(next()))
            .filter(|&ms| ms != 0)
            .map(Duration::from_millis),
        // From a byte already read, so the seeds keep their meaning.
        ready_timeout: Some(Duration::from_millis(first)),
        ..Config::default()
    };
    let w = next();
    let want = match w % 3 {
        0 => Want::Up,
        1 => Want::Down,
        _ => Want::Once,
    };
    // The same byte picks the path (issue 14), so older seeds keep their meaning.
    let reach = match (w / 3) % 2 {
        0 => Reach::Group,
        _ => Reach::Cgroup,
    };
    let mut sim = Sim {
        sup: Supervisor::new(config, want, u64::from(next())),
        now: Instant::now(),
        next_pid: 100,
        run: None,
        finish: None,
    };
    let end_of_time = sim.now + Duration::from_secs(1000 * 365 * 86_400);
    sim.sup.reach = reach;
    let boot = sim.sup.boot();
    sim.apply(boot.as_slice().collect(), &mut next);
    for _ in 0..data.len() {
        let b = next();
        let input = match Control::from_byte(b) {
            Some(c) => Input::Control(c),
            None => match b % 10 {
                0 | 1 => match sim.run.or(sim.finish) {
                    Some(pid) => {
                        // The run (or finish) ends: an exit code or a signal.
                        let how = next();
                        let code = i32::from(how & 0x7f);
                        let wstatus = if how & 0x80 != 0 { code } else { code << 8 };
                        Input::Exited(pid, Exit::Status(wstatus))
                    }
                    None => continue,
                },
                // Time only reaches deadlines a monotonic clock can: settings of up to 2^64 ms
                // put them 584 million years ahead, and timing out at each in turn would add
                // them up past what `Instant` holds, which no supervise lives to see.
                2 => match sim.sup.deadline() {
                    Some(at) if at <= end_of_time => {
                        sim.now = sim.now.max(at);
                        Input::Timeout
                    }
                    Some(_) | None => continue,
                },
                3 => Input::Terminate,
                4 => match sim.run {
                    Some(pid) => Input::Exited(pid, Exit::Unknown),
                    None => continue,
                },
                5 => Input::Exited(7, Exit::Status(0)), // a stray of the run's group
                6 => Input::Ready,
                7 => Input::Breach(match next() % 4 {
                    0 => Action::Restart,
                    1 => Action::Stop,
                    2 => Action::Signal(Signal::SIGHUP),
                    _ => Action::Notify,
                }),
                _ => {
                    sim.now += Duration::from_millis(u64::from(next()) * 50);
                    continue;
                }
            },
        };
        if let Input::Exited(pid, _) = input {
            if sim.run == Some(pid) {
                sim.run = None;
            }
            if sim.finish == Some(pid) {
                sim.finish = None;
            }
        }
        let fx = sim.sup.on(input, sim.now);
        sim.apply(fx.as_slice().collect(), &mut next);
        let _ = sim.sup.deadline();
        let _ = sim.sup.word();
        if sim.sup.finished() {
            return;
        }
    }
}

/// The outside of supervise's state machine, as supervise/service.rs drives it.
struct Sim {
    sup: Supervisor,
    now: Instant,
    next_pid: Pid,
    /// The run's pid while it lives (reaped: `None`).
    run: Option<Pid>,
    /// finish's pid while it lives.
    finish: Option<Pid>,
}

impl Sim {
    /// Applies effects as the loop does, answering those that wait for an answer.
    fn apply(&mut self, effects: Vec<Effect>, next: &mut impl FnMut() -> u8) {
        let mut queue = effects;
        let mut answers = 0;
        while !queue.is_empty() {
            let effect = queue.remove(0);
            let answer = match effect {
                Effect::Start => {
                    // `u` or `o` after `x` does start it, as daemontools does: `exiting` only
                    // keeps an exit from restarting it.
                    assert!(
                        self.sup.want != Want::Down,
                        "started while wanted down: {:?}",
                        self.sup
                    );
                    assert_eq!(self.run, None, "a second run started");
                    let how = next();
                    if how % 4 == 0 {
                        Input::Started(Err(libc::ENOENT))
                    } else {
                        self.next_pid += 1;
                        self.run = Some(self.next_pid);
                        let readiness = if how % 4 == 1 {
                            Readiness::Waiting
                        } else {
                            Readiness::Ready
                        };
                        Input::Started(Ok((self.next_pid, readiness)))
                    }
                }
                Effect::Finish(_) => {
                    if next() % 2 == 0 {
                        Input::FinishStarted(None)
                    } else {
                        self.next_pid += 1;
                        self.finish = Some(self.next_pid);
                        Input::FinishStarted(Some(self.next_pid))
                    }
                }
                Effect::Signal(pid, _) => {
                    assert!(
                        self.sup.pid() == Some(pid) || self.finish == Some(pid),
                        "signal to {pid}, not the run: {:?}",
                        self.sup
                    );
                    continue;
                }
                Effect::NotReady(pid) => {
                    assert_eq!(
                        self.sup.pid(),
                        Some(pid),
                        "not-ready warning for another pid"
                    );
                    continue;
                }
                Effect::SignalGroup(..)
                | Effect::SignalCgroup(_)
                | Effect::Announce
                | Effect::Publish(_) => continue,
                Effect::StopStrays(_) | Effect::ProbeStrays(_) | Effect::KillCgroup => {
                    Input::StraysLeft(next() % 2 == 0)
                }
            };
            answers += 1;
            assert!(answers < 32, "effects answered without end: {:?}", self.sup);
            let fx = self.sup.on(answer, self.now);
            queue.extend(fx.as_slice());
        }
    }
}

#[cfg(test)]
#[path = "seeds.rs"]
mod seeds;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[test]
    fn control_seeds_pass() {
        let seeds = super::seeds::seeds("control");
        assert!(!seeds.is_empty());
        for seed in &seeds {
            super::control(seed);
        }
    }

    proptest! {
        #![proptest_config(super::seeds::config())]
        #[test]
        fn control_bytes_generated(input in super::seeds::inputs("control")) {
            super::control(&input);
        }
    }
}

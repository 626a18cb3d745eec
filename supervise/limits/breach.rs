//! NEW: deciding from usage samples that a service passed one of its limits.
//!
//! [`Detector`] is pure: it is fed samples (a time, the service's CPU time so far, its memory,
//! threads and files) and says which limits they break; it reads no clock and no file, so it is
//! tested with tables. supervise feeds it one sample per `limit-interval`.
//!
//! - Memory, threads, files: a sample above the cap is a breach, reported once until a sample
//!   is at or under the cap again (so `on-limit notify` does not repeat it every interval).
//! - CPU (`max-cpu PERCENT SECONDS`): the mean CPU use over the last SECONDS, from the last
//!   sample taken at or before the window's start up to now, is above PERCENT of one core.
//!   Nothing is decided before a whole window has been seen. After a breach the window starts
//!   again. CPU time that disappears (a process of the service exited unreaped by it) counts
//!   as no use, never as negative use.
//!
//! A breach's kind is stored in the status file and published in events: its codes and words
//! are part of the on-disk format, in vigil_proto::status.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use vigil_proto::status::BreachKind;

use super::files::Limits;

/// What the service used, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// CPU time the service's processes used so far.
    pub cpu: Duration,
    /// Resident memory.
    pub memory_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Open files, when they were counted.
    pub files: Option<u64>,
}

/// One limit passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breach {
    /// Which limit.
    pub kind: BreachKind,
    /// What was measured: bytes, percent of one core (mean over the window), or a count.
    pub measured: u64,
    /// The limit, in the same unit.
    pub limit: u64,
}

/// Turns samples into breaches; one per service, reset at each start of `run`.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    /// (time, CPU used since tracking began) for the CPU window, oldest first.
    window: VecDeque<(Instant, Duration)>,
    /// CPU time of the last sample, to add only what grew.
    last_cpu: Option<Duration>,
    /// CPU used since tracking began, never decreasing.
    used: Duration,
    /// Memory, threads, files: reported and not yet back under the cap.
    latched: [bool; 3],
}

impl Detector {
    /// A detector that has seen nothing: its first sample is its baseline.
    pub fn new() -> Detector {
        Detector::default()
    }

    /// `run` started at `at`: forget the previous process; the new one had used no CPU then,
    /// so its first window ends SECONDS after its start.
    #[cfg(test)]
    pub fn start(&mut self, at: Instant) {
        self.begin(at, Duration::ZERO);
    }

    /// Watching starts at `at`, when the service had used `cpu` already (an adopted run, or
    /// a limit file that appeared while it ran): only what it uses from now on counts.
    pub fn begin(&mut self, at: Instant, cpu: Duration) {
        *self = Detector::default();
        self.last_cpu = Some(cpu);
        self.window.push_back((at, Duration::ZERO));
    }

    /// Takes one sample; the limits it breaks (usually none), memory first.
    pub fn feed(&mut self, limits: &Limits, sample: &Sample) -> Vec<Breach> {
        let mut breaches = Vec::new();
        let caps = [
            (
                BreachKind::Memory,
                limits.memory_bytes,
                Some(sample.memory_bytes),
            ),
            (BreachKind::Threads, limits.threads, Some(sample.threads)),
            (BreachKind::Files, limits.files, sample.files),
        ];
        for (latched, (kind, limit, measured)) in self.latched.iter_mut().zip(caps) {
            match (limit, measured) {
                (Some(limit), Some(measured)) if measured > limit => {
                    if !*latched {
                        *latched = true;
                        breaches.push(Breach {
                            kind,
                            measured,
                            limit,
                        });
                    }
                }
                _ => *latched = false,
            }
        }
        if let Some(breach) = self.feed_cpu(limits, sample) {
            breaches.push(breach);
        }
        breaches
    }

    fn feed_cpu(&mut self, limits: &Limits, sample: &Sample) -> Option<Breach> {
        let grew = self
            .last_cpu
            .map_or(Duration::ZERO, |last| sample.cpu.saturating_sub(last));
        self.last_cpu = Some(sample.cpu);
        self.used += grew;
        // Samples out of order (a clock that went back) restart the window.
        if self.window.back().is_some_and(|&(t, _)| t > sample.at) {
            self.window.clear();
        }
        self.window.push_back((sample.at, self.used));
        let Some(rule) = limits.cpu else {
            self.keep_last();
            return None;
        };
        let start = sample.at.checked_sub(rule.window)?;
        while self.window.len() >= 2 && self.window[1].0 <= start {
            self.window.pop_front();
        }
        let &(first_at, first_used) = self.window.front()?;
        if first_at > start {
            return None; // less than a whole window seen
        }
        let elapsed = sample.at.duration_since(first_at).as_secs_f64();
        let percent = (self.used - first_used).as_secs_f64() * 100.0 / elapsed;
        if percent <= rule.percent {
            return None;
        }
        self.keep_last();
        Some(Breach {
            kind: BreachKind::Cpu,
            measured: percent.round() as u64,
            limit: rule.percent.round() as u64,
        })
    }

    /// Drops all but the newest sample: the window starts again from it.
    fn keep_last(&mut self) {
        while self.window.len() > 1 {
            self.window.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::files::CpuLimit;
    use super::*;

    const MB: u64 = 1 << 20;

    fn limits(memory_mb: Option<u64>, cpu: Option<(f64, u64)>) -> Limits {
        Limits {
            memory_bytes: memory_mb.map(|m| m * MB),
            cpu: cpu.map(|(percent, secs)| CpuLimit {
                percent,
                window: Duration::from_secs(secs),
            }),
            ..Limits::default()
        }
    }

    /// Feeds (seconds since start, CPU seconds used so far, memory MB) and returns, per sample,
    /// the kinds of the breaches.
    fn run(limits: &Limits, samples: &[(f64, f64, u64)]) -> Vec<Vec<BreachKind>> {
        let t0 = Instant::now();
        let mut d = Detector::new();
        d.start(t0);
        samples
            .iter()
            .map(|&(at, cpu, mem)| {
                let s = Sample {
                    at: t0 + Duration::from_secs_f64(at),
                    cpu: Duration::from_secs_f64(cpu),
                    memory_bytes: mem * MB,
                    threads: 1,
                    files: None,
                };
                d.feed(limits, &s).iter().map(|b| b.kind).collect()
            })
            .collect()
    }

    const NONE: Vec<BreachKind> = Vec::new();

    #[test]
    fn memory_breach_is_reported_once_until_it_clears() {
        let l = limits(Some(100), None);
        let got = run(
            &l,
            &[
                (1.0, 0.0, 50),
                (2.0, 0.0, 101),
                (3.0, 0.0, 200),
                (4.0, 0.0, 100),
                (5.0, 0.0, 150),
            ],
        );
        let m = vec![BreachKind::Memory];
        assert_eq!(got, vec![NONE, m.clone(), NONE, NONE, m]);
    }

    #[test]
    fn a_spinner_breaks_the_cpu_rule_when_its_window_is_full() {
        // 90% over 10 s, sampled every 2 s, spinning at 100% from the start.
        let l = limits(None, Some((90.0, 10)));
        let samples: Vec<_> = (1..=7)
            .map(|i| (2.0 * i as f64, 2.0 * i as f64, 1))
            .collect();
        let got = run(&l, &samples);
        let c = vec![BreachKind::Cpu];
        // The window [0, 10] is full at t=10 (5th sample); then it starts again.
        assert_eq!(got, vec![NONE, NONE, NONE, NONE, c, NONE, NONE]);
    }

    #[test]
    fn under_the_threshold_is_never_a_breach() {
        let l = limits(None, Some((90.0, 4)));
        // 80% for a minute.
        let samples: Vec<_> = (1..=60).map(|i| (i as f64, 0.8 * i as f64, 1)).collect();
        assert!(run(&l, &samples).iter().all(Vec::is_empty));
    }

    #[test]
    fn a_short_burst_is_not_a_breach_but_a_sustained_one_is() {
        let l = limits(None, Some((50.0, 4)));
        // (time, cpu so far): idle, a 2 s burst at 100%, idle, then 100% from t=10.
        let samples = [
            (1.0, 0.0, 1),
            (2.0, 0.0, 1),
            (3.0, 1.0, 1),
            (4.0, 2.0, 1), // burst: 2 s of 4 = 50%, not above
            (5.0, 2.0, 1),
            (6.0, 2.0, 1),
            (10.0, 2.0, 1),
            (11.0, 3.0, 1),
            (12.0, 4.0, 1),
            (13.0, 5.0, 1), // window [9.., 13]: from the sample at 6 (<= 9): 3 of 7 s
            (14.0, 6.0, 1), // from t=10: 4 of 4 s = 100%
        ];
        let got = run(&l, &samples);
        assert_eq!(
            got[..10].iter().filter(|b| !b.is_empty()).count(),
            0,
            "{got:?}"
        );
        assert_eq!(got[10], vec![BreachKind::Cpu]);
    }

    #[test]
    fn cpu_that_vanishes_counts_as_no_use() {
        let l = limits(None, Some((50.0, 4)));
        // A helper's 10 s of CPU disappear at t=3 (it exited unreaped): not negative use.
        let samples = [
            (1.0, 10.0, 1),
            (2.0, 11.0, 1),
            (3.0, 0.5, 1),
            (4.0, 1.0, 1),
            (5.0, 1.5, 1),
        ];
        let got = run(&l, &samples);
        // [0,4]: 10 + 1 + 0 + 0.5 = 11.5 s used in 4 s: a breach (real use before vanishing).
        assert_eq!(got[3], vec![BreachKind::Cpu]);
        assert_eq!(got[4], NONE);
    }

    #[test]
    fn both_rules_can_break_in_one_sample() {
        let l = limits(Some(10), Some((10.0, 2)));
        let got = run(&l, &[(1.0, 1.0, 5), (2.0, 2.0, 20)]);
        assert_eq!(got[1], vec![BreachKind::Memory, BreachKind::Cpu]);
    }

    /// A sample at `t0 + secs` with `cpu_secs` of CPU used so far, and nothing else.
    fn cpu_at(t0: Instant, secs: u64, cpu_secs: u64) -> Sample {
        Sample {
            at: t0 + Duration::from_secs(secs),
            cpu: Duration::from_secs(cpu_secs),
            memory_bytes: 0,
            threads: 1,
            files: None,
        }
    }

    #[test]
    fn without_start_the_first_sample_is_the_baseline() {
        let l = limits(None, Some((50.0, 2)));
        let t0 = Instant::now();
        let mut d = Detector::new();
        // Adopted with 1000 s of CPU behind it: that is not use within the window.
        assert!(d.feed(&l, &cpu_at(t0, 1, 1000)).is_empty());
        assert!(d.feed(&l, &cpu_at(t0, 2, 1000)).is_empty());
        assert!(d.feed(&l, &cpu_at(t0, 3, 1000)).is_empty());
        assert_eq!(d.feed(&l, &cpu_at(t0, 5, 1002)).len(), 1);
    }

    #[test]
    fn begun_late_only_later_use_counts() {
        let l = limits(None, Some((50.0, 2)));
        let t0 = Instant::now();
        let mut d = Detector::new();
        d.begin(t0, Duration::from_secs(1000));
        assert!(d.feed(&l, &cpu_at(t0, 1, 1000)).is_empty());
        let old = d.feed(&l, &cpu_at(t0, 2, 1000));
        assert!(old.is_empty(), "old CPU is not a breach");
        assert_eq!(d.feed(&l, &cpu_at(t0, 4, 1002)).len(), 1);
    }

    #[test]
    fn threads_and_files_caps() {
        let l = Limits {
            threads: Some(10),
            files: Some(100),
            ..Limits::default()
        };
        let t0 = Instant::now();
        let mut d = Detector::new();
        d.start(t0);
        let s = |threads, files| Sample {
            at: t0,
            cpu: Duration::ZERO,
            memory_bytes: 0,
            threads,
            files,
        };
        assert!(d.feed(&l, &s(10, Some(100))).is_empty());
        let b = d.feed(&l, &s(11, Some(101)));
        assert_eq!(
            b,
            vec![
                Breach {
                    kind: BreachKind::Threads,
                    measured: 11,
                    limit: 10
                },
                Breach {
                    kind: BreachKind::Files,
                    measured: 101,
                    limit: 100
                }
            ]
        );
        // Files not counted: no files breach.
        assert!(d.feed(&l, &s(5, None)).is_empty());
    }
}

//! A fixed, seeded set of simulated preparations, and a driver that runs one
//! waiter against the simulator core on a virtual clock.
//!
//! Every preparation queues (or not), restores, then is normal; queue lengths
//! are drawn log-uniformly over three orders of magnitude, so the set holds
//! waits of a few seconds and of half an hour. The driver answers each
//! request at once (zero network time), so the lag it measures is the
//! policy's alone.

use std::time::{Duration, Instant};

use http::Response;
use koophone_proto::{
    Action, Check, Endpoint, Operation, Progress, RequestContext, Rng, SeededRng, ShowProgress,
    Target, Token, WaitError, WaitPolicy, Waiter,
};
use koophone_sim::{
    KooPhoneInstance, KooPhonePhase, KooPhoneSpec, KooPhoneStatus, KooPhoneUser, Scenario,
    Simulator, TokenSpec,
};

/// The user owning every simulated instance.
pub const USER_ID: &str = "1008600000104285462";

/// The token the simulated gateway accepts.
pub const TOKEN: &str = "sim-token";

/// The shortest and longest queue drawn (when there is a queue).
pub const QUEUE_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(1800));

/// The shortest and longest restore phase drawn.
pub const RESTORE_RANGE: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(60));

/// The share of preparations that skip the queue (a free slot at once).
pub const NO_QUEUE_SHARE: f64 = 0.2;

/// One simulated preparation: queuing for `queue`, restoring for `restore`,
/// then normal for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preparation {
    /// The simulated instance.
    pub instance_id: String,
    /// Time in the queue (zero: no queuing phase).
    pub queue: Duration,
    /// Time restoring after the queue.
    pub restore: Duration,
}

impl Preparation {
    /// When the phone becomes normal, from the start of the wait.
    pub fn ready_after(&self) -> Duration {
        self.queue + self.restore
    }
}

/// What `waitingCount` says while a phone queues; its unit is undocumented,
/// so the waiter is measured under several readings of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueCount {
    /// Seconds left in the queue, counting down (what the simulator's
    /// built-in scenario does, and what the waiter's hint assumes).
    Seconds,
    /// Places left, one per this many seconds: a count in a coarser unit,
    /// which the waiter reads as far too few seconds.
    PerPlace(u32),
    /// Always 0: a service that reports no count while queuing.
    Zero,
}

/// A uniform fraction in `[0, 1)` from 53 random bits.
fn unit(rng: &mut SeededRng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `n` preparations drawn from `seed`: the same seed gives the same set.
///
/// A [`NO_QUEUE_SHARE`] of them skip the queue; the others queue for a time
/// log-uniform in [`QUEUE_RANGE`]; all restore for a time uniform in
/// [`RESTORE_RANGE`]. Times are whole milliseconds.
pub fn preparations(seed: u64, n: usize) -> Vec<Preparation> {
    let mut rng = SeededRng::new(seed);
    let (queue_lo, queue_hi) = (QUEUE_RANGE.0.as_secs_f64(), QUEUE_RANGE.1.as_secs_f64());
    let (restore_lo, restore_hi) = (millis(RESTORE_RANGE.0), millis(RESTORE_RANGE.1));
    (0..n)
        .map(|i| {
            let queue = if unit(&mut rng) < NO_QUEUE_SHARE {
                Duration::ZERO
            } else {
                let secs = (queue_lo.ln() + unit(&mut rng) * (queue_hi / queue_lo).ln()).exp();
                Duration::from_millis((secs * 1000.0).round() as u64)
            };
            let restore_ms =
                restore_lo + (unit(&mut rng) * (restore_hi - restore_lo) as f64).round() as u64;
            Preparation {
                instance_id: format!("bench-{i:06}"),
                queue,
                restore: Duration::from_millis(restore_ms),
            }
        })
        .collect()
}

fn phase(status: KooPhoneStatus, for_ms: Option<u64>) -> KooPhonePhase {
    KooPhonePhase {
        status,
        for_ms,
        waiting_count: None,
        waiting_count_from: None,
    }
}

/// A simulator scenario holding `preparations`, all owned by [`USER_ID`],
/// with `count` as the queue's `waitingCount`; no faults, no rate limit, no
/// request log.
pub fn scenario(preparations: &[Preparation], count: QueueCount) -> Scenario {
    let instances = preparations
        .iter()
        .map(|p| {
            let mut phases = Vec::with_capacity(3);
            if !p.queue.is_zero() {
                let queue_ms = millis(p.queue);
                let per_count_ms = match count {
                    QueueCount::Seconds => Some(1000),
                    QueueCount::PerPlace(secs) => Some(u64::from(secs.max(1)) * 1000),
                    QueueCount::Zero => None,
                };
                let mut queuing = phase(KooPhoneStatus::Queuing, Some(queue_ms));
                match per_count_ms {
                    Some(per) => {
                        let from = queue_ms.div_ceil(per).max(1);
                        queuing.waiting_count_from = Some(u32::try_from(from).unwrap_or(u32::MAX));
                    }
                    None => queuing.waiting_count = Some(0),
                }
                phases.push(queuing);
            }
            phases.push(phase(KooPhoneStatus::Restoring, Some(millis(p.restore))));
            phases.push(phase(KooPhoneStatus::Normal, None));
            KooPhoneInstance {
                instance_id: p.instance_id.clone(),
                phases,
                prepare: None,
            }
        })
        .collect();
    Scenario {
        tokens: vec![TokenSpec::new(TOKEN)],
        rate_limit: None,
        request_log_capacity: 0,
        koophone: KooPhoneSpec {
            users: vec![KooPhoneUser {
                user_id: USER_ID.to_owned(),
                instances,
            }],
        },
        clouddc: Default::default(),
        faults: Vec::new(),
        ..Scenario::default()
    }
}

/// The request context of the simulated service.
pub fn context() -> RequestContext {
    RequestContext::new(
        Endpoint::parse("http://127.0.0.1:8080").expect("loopback endpoint is valid"),
        Token::new(TOKEN).expect("simulator token is valid"),
    )
}

/// A target that classifies like `T` but ignores every interval hint: the
/// waiter as it would run if `waitingCount` carried no usable information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IgnoreHint<T>(pub T);

impl<O, T: Target<O>> Target<O> for IgnoreHint<T> {
    fn check(&self, output: &O) -> Check {
        self.0.check(output)
    }
}

/// How one simulated wait went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitRun {
    /// Requests sent.
    pub polls: u32,
    /// When the phone became normal, from the start of the wait.
    pub ready_at: Duration,
    /// When the waiter reported it (`None`: its deadline passed first).
    pub reported_at: Option<Duration>,
}

impl WaitRun {
    /// Time from becoming normal to the waiter reporting it.
    pub fn lag(&self) -> Option<Duration> {
        Some(self.reported_at?.saturating_sub(self.ready_at))
    }
}

/// The lag the target allows a wait that became ready at `ready_at`: the
/// larger of `min_interval` and `fraction` of the time to ready.
pub fn lag_bound(min_interval: Duration, fraction: f64, ready_at: Duration) -> Duration {
    ready_at.mul_f64(fraction).max(min_interval)
}

/// Wait for `preparation` on a virtual clock: each request the waiter asks
/// for is answered by `sim` at once, each wake-up jumps the clock. The wait
/// starts at the simulator's time zero; `seed` seeds the waiter's jitter.
pub fn run_wait<T: Target<Progress>>(
    sim: &mut Simulator,
    ctx: &RequestContext,
    preparation: &Preparation,
    target: T,
    policy: WaitPolicy,
    seed: u64,
) -> Result<WaitRun, String> {
    let ready_at = sim
        .koophone_reaches(&preparation.instance_id, KooPhoneStatus::Normal)
        .ok_or_else(|| format!("{} is never normal", preparation.instance_id))?;
    let op =
        ShowProgress::new(USER_ID, preparation.instance_id.as_str()).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut waiter = Waiter::with_rng(op, target, policy, SeededRng::new(seed), start);
    let mut now = start;
    // Sends are at least min_interval apart and each costs at most three polls.
    let min_nanos = policy.min_interval.as_nanos().max(1);
    let budget = 3 * (policy.max_wait.as_nanos() / min_nanos + 2);
    for _ in 0..budget {
        match waiter.poll(now) {
            Action::Send => {
                let request = waiter
                    .operation()
                    .build_request(ctx)
                    .map_err(|e| e.to_string())?;
                let answer = sim.handle(&request, now - start);
                let (parts, body) = answer.response.into_parts();
                waiter.handle_response(Response::from_parts(parts, body.as_slice()), now);
            }
            Action::WakeAt(at) => now = at,
            Action::Done(Ok(_)) => {
                return Ok(WaitRun {
                    polls: waiter.polls(),
                    ready_at,
                    reported_at: Some(now - start),
                });
            }
            Action::Done(Err(WaitError::Deadline { .. })) => {
                return Ok(WaitRun {
                    polls: waiter.polls(),
                    ready_at,
                    reported_at: None,
                });
            }
            Action::Done(Err(e)) => {
                return Err(format!("{}: {e}", preparation.instance_id));
            }
        }
    }
    Err(format!(
        "{}: not done after {budget} polls",
        preparation.instance_id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use koophone_proto::{Jitter, UntilReady};

    fn every_second() -> WaitPolicy {
        WaitPolicy {
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(1),
            growth: 1.0,
            jitter: Jitter::None,
            max_wait: Duration::from_secs(3600),
            max_consecutive_errors: 0,
            max_pause_fraction: None,
            seed: 0,
        }
    }

    #[test]
    fn the_set_is_fixed_by_its_seed_and_spans_the_ranges() {
        let set = preparations(42, 500);
        assert_eq!(set, preparations(42, 500));
        assert_ne!(set, preparations(43, 500));
        let queued: Vec<_> = set.iter().filter(|p| !p.queue.is_zero()).collect();
        let skipped = set.len() - queued.len();
        assert!((60..=140).contains(&skipped), "{skipped} without a queue");
        assert!(
            queued
                .iter()
                .all(|p| (QUEUE_RANGE.0..=QUEUE_RANGE.1).contains(&p.queue))
        );
        assert!(queued.iter().any(|p| p.queue < Duration::from_secs(10)));
        assert!(queued.iter().any(|p| p.queue > Duration::from_secs(600)));
        assert!(
            set.iter()
                .all(|p| (RESTORE_RANGE.0..=RESTORE_RANGE.1).contains(&p.restore))
        );
    }

    #[test]
    fn a_one_second_poller_sees_ready_within_a_second() {
        let set = preparations(7, 20);
        for count in [
            QueueCount::Seconds,
            QueueCount::PerPlace(30),
            QueueCount::Zero,
        ] {
            let mut sim = Simulator::new(scenario(&set, count), 0).unwrap();
            for p in &set {
                let run = run_wait(&mut sim, &context(), p, UntilReady, every_second(), 1).unwrap();
                assert_eq!(run.ready_at, p.ready_after());
                let lag = run.lag().unwrap();
                assert!(lag < Duration::from_secs(1), "{p:?}: {lag:?}");
                // One request at 0 s and one per second until it is seen.
                let expected = run.reported_at.unwrap().as_secs() + 1;
                assert_eq!(u64::from(run.polls), expected, "{p:?}");
            }
        }
    }

    #[test]
    fn the_queue_count_follows_the_chosen_unit() {
        let p = Preparation {
            instance_id: "q".to_owned(),
            queue: Duration::from_secs(90),
            restore: Duration::from_secs(5),
        };
        let first = |count| {
            let scenario = scenario(std::slice::from_ref(&p), count);
            scenario.koophone.users[0].instances[0].phases[0].clone()
        };
        assert_eq!(first(QueueCount::Seconds).waiting_count_from, Some(90));
        assert_eq!(first(QueueCount::PerPlace(30)).waiting_count_from, Some(3));
        assert_eq!(first(QueueCount::Zero).waiting_count, Some(0));
    }

    #[test]
    fn a_deadline_is_reported_as_no_detection() {
        let p = Preparation {
            instance_id: "slow".to_owned(),
            queue: Duration::from_secs(100),
            restore: Duration::from_secs(5),
        };
        let mut sim =
            Simulator::new(scenario(std::slice::from_ref(&p), QueueCount::Zero), 0).unwrap();
        let policy = WaitPolicy {
            max_wait: Duration::from_secs(30),
            ..every_second()
        };
        let run = run_wait(&mut sim, &context(), &p, IgnoreHint(UntilReady), policy, 1).unwrap();
        assert_eq!(run.reported_at, None);
        assert_eq!(run.lag(), None);
        assert_eq!(run.polls, 30);
    }

    #[test]
    fn lag_bound_is_the_larger_of_its_two_terms() {
        let min = Duration::from_secs(1);
        assert_eq!(lag_bound(min, 0.1, Duration::from_secs(5)), min);
        assert_eq!(
            lag_bound(min, 0.1, Duration::from_secs(300)),
            Duration::from_secs(30)
        );
    }
}

//! Seeded fault injection: decides, request by request, which fault rule
//! (if any) fires. The same seed and the same request sequence give the
//! same faults.

use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

use crate::scenario::{Fault, FaultRoute, FaultRule};

/// The operations, as fault rules and the request log name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /v1/instances/prepare-progress`.
    ShowProgress,
    /// `GET /v1/{project_id}/instances/{id}/status`.
    ShowInstanceStatus,
    /// `POST /v1/instances/prepare`.
    BatchPrepareInstances,
    /// `POST /v3/auth/tokens` (IAM; fault rules never apply to it).
    IssueToken,
}

impl FaultRoute {
    fn matches(self, route: Route) -> bool {
        match self {
            FaultRoute::Any => route != Route::IssueToken,
            FaultRoute::ShowProgress => route == Route::ShowProgress,
            FaultRoute::ShowInstanceStatus => route == Route::ShowInstanceStatus,
            FaultRoute::BatchPrepareInstances => route == Route::BatchPrepareInstances,
        }
    }
}

#[derive(Debug, Clone)]
struct RuleState {
    rule: FaultRule,
    /// Requests left in the current burst.
    burst_left: u32,
    /// Faulty answers given so far.
    fired: u64,
}

/// Per-simulator fault state: the rules, their bursts and the seeded RNG.
#[derive(Debug)]
pub(crate) struct FaultInjector {
    rules: Vec<RuleState>,
    rng: ChaCha8Rng,
}

impl FaultInjector {
    pub(crate) fn new(rules: &[FaultRule], seed: u64) -> Self {
        Self {
            rules: rules
                .iter()
                .map(|rule| RuleState {
                    rule: rule.clone(),
                    burst_left: 0,
                    fired: 0,
                })
                .collect(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The fault for this request, if a rule fires. Every matching rule is
    /// consulted in order until one fires, so later rules only see requests
    /// earlier rules let through.
    pub(crate) fn pick(&mut self, route: Route, at: Duration) -> Option<Fault> {
        let t_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        for state in &mut self.rules {
            let rule = &state.rule;
            if !rule.route.matches(route)
                || t_ms < rule.from_ms
                || rule.until_ms.is_some_and(|until| t_ms >= until)
                || rule.max_count.is_some_and(|max| state.fired >= max)
            {
                continue;
            }
            let fires = if state.burst_left > 0 {
                true
            } else if chance(&mut self.rng, rule.probability) {
                state.burst_left = rule.burst;
                true
            } else {
                false
            };
            if fires {
                state.burst_left -= 1;
                state.fired += 1;
                return Some(rule.fault.clone());
            }
        }
        None
    }

    /// A seeded number for fault details (where to cut a body, which
    /// malformed body to send).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

/// True with probability `p`; draws nothing for the certain cases so that
/// adding a `probability: 1` rule does not shift other rules' draws.
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if p >= 1.0 {
        return true;
    }
    if p <= 0.0 {
        return false;
    }
    // 53 random bits give a uniform float in [0, 1).
    let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    x < p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(probability: f64, burst: u32, max_count: Option<u64>) -> FaultRule {
        FaultRule {
            route: FaultRoute::ShowProgress,
            probability,
            burst,
            from_ms: 0,
            until_ms: None,
            max_count,
            fault: Fault::BadGateway {},
        }
    }

    fn run(rules: &[FaultRule], seed: u64, n: usize) -> Vec<bool> {
        let mut inj = FaultInjector::new(rules, seed);
        (0..n)
            .map(|i| {
                inj.pick(Route::ShowProgress, Duration::from_millis(i as u64))
                    .is_some()
            })
            .collect()
    }

    #[test]
    fn same_seed_same_faults_other_seed_other_faults() {
        let rules = [rule(0.3, 1, None)];
        assert_eq!(run(&rules, 7, 500), run(&rules, 7, 500));
        assert_ne!(run(&rules, 7, 500), run(&rules, 8, 500));
        let hits = run(&rules, 7, 10_000).iter().filter(|h| **h).count();
        assert!((2_500..3_500).contains(&hits), "{hits} hits for p=0.3");
    }

    #[test]
    fn bursts_and_caps() {
        // Certain rule with a cap: exactly the first three requests fault.
        let got = run(&[rule(1.0, 1, Some(3))], 1, 6);
        assert_eq!(got, [true, true, true, false, false, false]);
        // Bursts of 4: faults come in runs of at least 4 (runs may merge).
        let got = run(&[rule(0.05, 4, None)], 3, 2_000);
        let mut run_len = 0;
        for hit in got.iter().chain([&false]) {
            if *hit {
                run_len += 1;
            } else {
                assert!(run_len == 0 || run_len >= 4, "short burst {run_len}");
                run_len = 0;
            }
        }
    }

    #[test]
    fn windows_and_routes_are_respected() {
        let mut r = rule(1.0, 1, None);
        r.from_ms = 10;
        r.until_ms = Some(20);
        let mut inj = FaultInjector::new(&[r], 0);
        // In order: (route, ms since start, whether the rule fires).
        for (route, ms, fires) in [
            (Route::ShowProgress, 9, false),
            (Route::ShowProgress, 10, true),
            (Route::ShowInstanceStatus, 15, false),
            (Route::ShowProgress, 19, true),
            (Route::ShowProgress, 20, false),
        ] {
            let got = inj.pick(route, Duration::from_millis(ms));
            assert_eq!(got.is_some(), fires, "{route:?} at {ms} ms");
        }
    }
}

//! Scenario shorthands for load tests: many KooPhone instances from one
//! entry, and outage windows.

use rand::rngs::ChaCha8Rng;
use rand::{Rng, SeedableRng};

use crate::scenario::{
    Fault, FaultRoute, FaultRule, GeneratedInstances, KooPhoneInstance, KooPhonePhase,
    KooPhoneStatus, Outage,
};

impl GeneratedInstances {
    /// The largest `count` accepted.
    pub const MAX_COUNT: u32 = 1_000_000;

    /// The id of instance `index`.
    pub fn id(&self, index: u32) -> String {
        let width = self.count.saturating_sub(1).max(1).ilog10() as usize + 1;
        format!("{}{index:0width$}", self.id_prefix)
    }

    /// Every id, in order.
    pub fn ids(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.count).map(|index| self.id(index))
    }

    /// The instances this entry stands for.
    pub fn instances(&self) -> Vec<KooPhoneInstance> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let [min, max] = self.ready_after_ms;
        let (min, max) = (min.min(max), min.max(max));
        (0..self.count)
            .map(|index| {
                let ready_after = min + rng.next_u64() % (max - min + 1);
                let failed = unit(rng.next_u64()) < self.failure_rate;
                KooPhoneInstance {
                    instance_id: self.id(index),
                    phases: phases(ready_after, failed),
                    prepare: self.prepare.clone(),
                }
            })
            .collect()
    }
}

/// A uniform draw in [0, 1).
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

fn phases(ready_after: u64, failed: bool) -> Vec<KooPhonePhase> {
    let end = KooPhonePhase {
        status: if failed {
            KooPhoneStatus::Failed
        } else {
            KooPhoneStatus::Normal
        },
        for_ms: None,
        waiting_count: None,
        waiting_count_from: None,
    };
    let queuing = ready_after / 2;
    let restoring = ready_after - queuing;
    let mut phases = Vec::with_capacity(3);
    if queuing > 0 {
        phases.push(KooPhonePhase {
            status: KooPhoneStatus::Queuing,
            for_ms: Some(queuing),
            waiting_count: None,
            // About one place in the queue a second.
            waiting_count_from: Some(u32::try_from(queuing / 1000).unwrap_or(u32::MAX).max(1)),
        });
    }
    if restoring > 0 {
        phases.push(KooPhonePhase {
            status: KooPhoneStatus::Restoring,
            for_ms: Some(restoring),
            waiting_count: None,
            waiting_count_from: None,
        });
    }
    phases.push(end);
    phases
}

impl Outage {
    /// The fault rule it stands for; outages go before the scenario's own
    /// fault rules.
    pub fn fault_rule(&self) -> FaultRule {
        FaultRule {
            route: FaultRoute::Any,
            probability: 1.0,
            burst: 1,
            from_ms: self.from_ms,
            until_ms: Some(self.from_ms.saturating_add(self.for_ms)),
            max_count: None,
            fault: Fault::ServiceUnavailable {
                retry_after_s: self.retry_after_s,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(count: u32, failure_rate: f64) -> GeneratedInstances {
        GeneratedInstances {
            user_id: "u1".into(),
            id_prefix: "iF".into(),
            count,
            seed: 3,
            ready_after_ms: [5_000, 60_000],
            failure_rate,
            prepare: None,
        }
    }

    #[test]
    fn ids_are_padded_to_sort_in_order() {
        let e = entry(1000, 0.0);
        assert_eq!(e.id(0), "iF000");
        assert_eq!(e.id(999), "iF999");
        assert_eq!(entry(1, 0.0).id(0), "iF0");
        assert_eq!(entry(10, 0.0).ids().last().unwrap(), "iF9");
    }

    #[test]
    fn times_and_failures_follow_the_seed_and_the_rates() {
        let e = entry(2000, 0.1);
        let instances = e.instances();
        assert_eq!(
            instances,
            e.instances(),
            "the same entry, the same instances"
        );
        let other = GeneratedInstances {
            seed: 4,
            ..e.clone()
        };
        assert_ne!(instances, other.instances());
        let mut failed = 0;
        for instance in &instances {
            let total: u64 = instance.phases.iter().filter_map(|p| p.for_ms).sum();
            assert!((5_000..=60_000).contains(&total), "{total}");
            match instance.phases.last().unwrap().status {
                KooPhoneStatus::Failed => failed += 1,
                status => assert_eq!(status, KooPhoneStatus::Normal),
            }
        }
        // 10% of 2000, within a generous margin for the draw.
        assert!((140..=260).contains(&failed), "{failed}");
        let spread: Vec<u64> = instances
            .iter()
            .map(|i| i.phases.iter().filter_map(|p| p.for_ms).sum())
            .collect();
        assert!(spread.iter().any(|t| *t < 15_000) && spread.iter().any(|t| *t > 50_000));
    }

    #[test]
    fn an_instant_preparation_is_a_single_phase() {
        let e = GeneratedInstances {
            ready_after_ms: [0, 0],
            ..entry(3, 1.0)
        };
        for instance in e.instances() {
            assert_eq!(instance.phases.len(), 1);
            assert_eq!(instance.phases[0].status, KooPhoneStatus::Failed);
        }
    }
}

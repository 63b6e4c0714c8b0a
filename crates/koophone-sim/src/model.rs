//! The in-memory world compiled from a scenario: lookups by id and the
//! state of every instance at a given time.

use std::collections::HashMap;
use std::time::Duration;

use crate::scenario::{
    CloudDcPhase, InstanceError, KooPhonePhase, KooPhoneStatus, PrepareSpec, Scenario,
    is_error_state,
};

/// What ShowProgress reports for an instance at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// `data.status`.
    pub status: KooPhoneStatus,
    /// `data.waitingCount`.
    pub waiting_count: i64,
}

/// What ShowInstanceStatus reports for an instance at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSnapshot<'a> {
    /// `state`.
    pub state: &'a str,
    /// `error`, when present.
    pub error: Option<&'a InstanceError>,
    /// `operation_state`, when present.
    pub operation_state: Option<&'a str>,
}

/// A phase list with precomputed start times, so lookups are a short scan.
#[derive(Debug, Clone)]
struct Timeline<P> {
    /// (start in ms, phase); the first starts at 0, the last lasts forever.
    phases: Vec<(u64, P)>,
}

impl<P> Timeline<P> {
    fn new(phases: impl IntoIterator<Item = (Option<u64>, P)>) -> Self {
        let mut start = 0u64;
        let phases = phases
            .into_iter()
            .map(|(for_ms, phase)| {
                let at = start;
                start = start.saturating_add(for_ms.unwrap_or(0));
                (at, phase)
            })
            .collect();
        Self { phases }
    }

    /// The phase in force at `t_ms` and how long it has been in force.
    fn at(&self, t_ms: u64) -> Option<(&P, u64)> {
        let idx = self.phases.partition_point(|(start, _)| *start <= t_ms);
        let (start, phase) = self.phases.get(idx.checked_sub(1)?)?;
        Some((phase, t_ms - start))
    }

    /// When the first phase satisfying `pred` begins.
    fn first_start(&self, pred: impl Fn(&P) -> bool) -> Option<u64> {
        self.phases.iter().find(|(_, p)| pred(p)).map(|(at, _)| *at)
    }
}

#[derive(Debug, Clone)]
struct KooPhoneEntry {
    user_id: String,
    timeline: Timeline<KooPhonePhase>,
    /// For an instance that needs preparing: how, and since when (ms since
    /// start) its timeline runs.
    prepare: Option<(PrepareSpec, Option<u64>)>,
}

impl KooPhoneEntry {
    /// When the timeline started, or `None` while the instance waits for a
    /// prepare call.
    fn timeline_start(&self) -> Option<u64> {
        match &self.prepare {
            None => Some(0),
            Some((_, prepared_at)) => *prepared_at,
        }
    }
}

/// Why a BatchPrepareInstances call was refused, naming the first id at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrepareRefusal {
    /// No such instance (`KOOPHONE.API.4001`).
    NoSuchInstance,
    /// The instance belongs to another user (`KOOPHONE.API.1001`).
    OtherUser,
}

#[derive(Debug, Clone)]
struct CloudDcEntry {
    timeline: Timeline<CloudDcPhase>,
}

/// Result of a ShowProgress lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressLookup {
    /// The instance exists and belongs to the user.
    Found(ProgressSnapshot),
    /// No such instance (`KOOPHONE.API.4001`).
    NoSuchInstance,
    /// The instance belongs to another user (`KOOPHONE.API.1001`).
    OtherUser,
}

/// The compiled world.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    koophone: HashMap<String, KooPhoneEntry>,
    clouddc: HashMap<String, HashMap<String, CloudDcEntry>>,
}

fn ms(at: Duration) -> u64 {
    u64::try_from(at.as_millis()).unwrap_or(u64::MAX)
}

impl Model {
    pub(crate) fn new(scenario: &Scenario) -> Self {
        let mut koophone = HashMap::new();
        for user in &scenario.koophone.users {
            for instance in &user.instances {
                let timeline = Timeline::new(
                    instance
                        .phases
                        .iter()
                        .map(|phase| (phase.for_ms, phase.clone())),
                );
                koophone.insert(
                    instance.instance_id.clone(),
                    KooPhoneEntry {
                        user_id: user.user_id.clone(),
                        timeline,
                        prepare: instance.prepare.clone().map(|spec| (spec, None)),
                    },
                );
            }
        }
        for entry in &scenario.generate {
            for instance in entry.instances() {
                let timeline = Timeline::new(
                    instance
                        .phases
                        .into_iter()
                        .map(|phase| (phase.for_ms, phase)),
                );
                koophone.insert(
                    instance.instance_id,
                    KooPhoneEntry {
                        user_id: entry.user_id.clone(),
                        timeline,
                        prepare: instance.prepare.map(|spec| (spec, None)),
                    },
                );
            }
        }
        let mut clouddc: HashMap<String, HashMap<String, CloudDcEntry>> = HashMap::new();
        for project in &scenario.clouddc.projects {
            let instances = clouddc.entry(project.project_id.clone()).or_default();
            for instance in &project.instances {
                let timeline = Timeline::new(instance.phases.iter().map(|phase| {
                    let mut phase = phase.clone();
                    if phase.error.is_none() && is_error_state(&phase.state) {
                        phase.error = Some(InstanceError::default_failure());
                    }
                    (phase.for_ms, phase)
                }));
                instances.insert(instance.instance_id.clone(), CloudDcEntry { timeline });
            }
        }
        Self { koophone, clouddc }
    }

    pub(crate) fn progress(
        &self,
        user_id: &str,
        instance_id: &str,
        at: Duration,
    ) -> ProgressLookup {
        let Some(entry) = self.koophone.get(instance_id) else {
            return ProgressLookup::NoSuchInstance;
        };
        if entry.user_id != user_id {
            return ProgressLookup::OtherUser;
        }
        let Some(start) = entry.timeline_start() else {
            let before = entry.prepare.as_ref().map(|(spec, _)| ProgressSnapshot {
                status: spec.before,
                waiting_count: spec.before_waiting_count,
            });
            return before.map_or(ProgressLookup::NoSuchInstance, ProgressLookup::Found);
        };
        match entry.timeline.at(ms(at).saturating_sub(start)) {
            Some((phase, elapsed)) => ProgressLookup::Found(snapshot(phase, elapsed)),
            None => ProgressLookup::NoSuchInstance,
        }
    }

    /// BatchPrepareInstances: every id must exist and belong to `user_id`
    /// (the first that does not refuses the whole call, and nothing is
    /// prepared); then each instance that waits for preparing starts its
    /// timeline at `at`. Returns `(id, phone status)` per distinct id in the
    /// order given, without the ids the scenario leaves out of the answer.
    pub(crate) fn prepare(
        &mut self,
        user_id: &str,
        instance_ids: &[String],
        at: Duration,
    ) -> Result<Vec<(String, i64)>, PrepareRefusal> {
        for id in instance_ids {
            match self.koophone.get(id) {
                None => return Err(PrepareRefusal::NoSuchInstance),
                Some(entry) if entry.user_id != user_id => return Err(PrepareRefusal::OtherUser),
                Some(_) => {}
            }
        }
        let mut answered: Vec<(String, i64)> = Vec::with_capacity(instance_ids.len());
        let mut seen = std::collections::HashSet::new();
        for id in instance_ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let Some(entry) = self.koophone.get_mut(id) else {
                continue;
            };
            match &mut entry.prepare {
                None => answered.push((id.clone(), 0)),
                Some((spec, prepared_at)) => {
                    prepared_at.get_or_insert(ms(at));
                    if !spec.omit_from_answer {
                        answered.push((id.clone(), spec.phone_status));
                    }
                }
            }
        }
        Ok(answered)
    }

    pub(crate) fn state(
        &self,
        project_id: &str,
        instance_id: &str,
        at: Duration,
    ) -> Option<StateSnapshot<'_>> {
        let entry = self.clouddc.get(project_id)?.get(instance_id)?;
        let (phase, _) = entry.timeline.at(ms(at))?;
        Some(StateSnapshot {
            state: &phase.state,
            error: phase.error.as_ref(),
            operation_state: phase.operation_state.as_deref(),
        })
    }

    /// When a KooPhone instance first reports `status`, if it ever does.
    pub(crate) fn koophone_reaches(
        &self,
        instance_id: &str,
        status: KooPhoneStatus,
    ) -> Option<Duration> {
        let entry = self.koophone.get(instance_id)?;
        // An instance waiting for preparing reports `before` from the start.
        if entry
            .prepare
            .as_ref()
            .is_some_and(|(spec, _)| spec.before == status)
        {
            return Some(Duration::ZERO);
        }
        let start = entry.timeline_start()?;
        entry
            .timeline
            .first_start(|p| p.status == status)
            .map(|t| Duration::from_millis(t.saturating_add(start)))
    }

    /// When a CloudDC instance first reports `state`, if it ever does.
    pub(crate) fn clouddc_reaches(
        &self,
        project_id: &str,
        instance_id: &str,
        state: &str,
    ) -> Option<Duration> {
        let entry = self.clouddc.get(project_id)?.get(instance_id)?;
        entry
            .timeline
            .first_start(|p| p.state == state)
            .map(Duration::from_millis)
    }
}

fn snapshot(phase: &KooPhonePhase, elapsed_ms: u64) -> ProgressSnapshot {
    let waiting_count = match (phase.waiting_count_from, phase.for_ms) {
        (Some(from), Some(for_ms)) if for_ms > 0 => {
            let from = u64::from(from);
            // Equal slices of the phase: from, from-1, ..., 1.
            let step = (u128::from(elapsed_ms) * u128::from(from) / u128::from(for_ms)) as u64;
            i64::try_from(from.saturating_sub(step).max(1)).unwrap_or(i64::MAX)
        }
        _ => phase.waiting_count.unwrap_or(0),
    };
    ProgressSnapshot {
        status: phase.status,
        waiting_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_queue_counts_down_then_restores_then_is_normal() {
        let model = Model::new(&Scenario::default());
        let at = |ms| match model.progress(
            "1008600000104285462",
            "iRJEVP9",
            Duration::from_millis(ms),
        ) {
            ProgressLookup::Found(s) => (s.status, s.waiting_count),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(at(0), (KooPhoneStatus::Queuing, 3));
        assert_eq!(at(999), (KooPhoneStatus::Queuing, 3));
        assert_eq!(at(1000), (KooPhoneStatus::Queuing, 2));
        assert_eq!(at(2999), (KooPhoneStatus::Queuing, 1));
        assert_eq!(at(3000), (KooPhoneStatus::Restoring, 0));
        assert_eq!(at(4999), (KooPhoneStatus::Restoring, 0));
        assert_eq!(at(5000), (KooPhoneStatus::Normal, 0));
        assert_eq!(at(u64::MAX / 2), (KooPhoneStatus::Normal, 0));
        assert_eq!(
            model.koophone_reaches("iRJEVP9", KooPhoneStatus::Normal),
            Some(Duration::from_millis(5000))
        );
        assert_eq!(
            model.koophone_reaches("iFAILED1", KooPhoneStatus::Normal),
            None
        );
    }

    #[test]
    fn error_state_gets_a_default_error_object() {
        let model = Model::new(&Scenario::default());
        let s = model
            .state("sim-project", "sim-broken", Duration::from_secs(10))
            .expect("instance exists");
        assert_eq!(s.state, "error");
        assert_eq!(s.error, Some(&InstanceError::default_failure()));
        let s = model
            .state("sim-project", "sim-starting", Duration::ZERO)
            .expect("instance exists");
        assert_eq!((s.state, s.error), ("pending", None));
        assert_eq!(
            model.clouddc_reaches("sim-project", "sim-starting", "running"),
            Some(Duration::from_millis(3000))
        );
    }
}

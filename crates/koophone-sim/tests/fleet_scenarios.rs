//! Load-test scenarios: generated instances, outage windows, the per-tenant
//! rate limit and the per-second request counts a fleet is checked against.

use std::time::Duration;

use koophone_sim::{KooPhoneStatus, RequestCounts, Scenario, Simulator};

const USER: &str = "1008600000104285462";

fn progress(
    sim: &mut Simulator,
    token: &str,
    instance: &str,
    at_ms: u64,
) -> http::Response<Vec<u8>> {
    let body = format!(r#"{{"user_id":"{USER}","instance_id":"{instance}"}}"#);
    let request = http::Request::post("/v1/instances/prepare-progress")
        .header("x-auth-token", token)
        .body(body.into_bytes())
        .unwrap();
    sim.handle(&request, Duration::from_millis(at_ms)).response
}

fn status_code(response: &http::Response<Vec<u8>>) -> Option<i64> {
    let json: serde_json::Value = serde_json::from_slice(response.body()).ok()?;
    json["data"]["status"].as_i64()
}

const FLEET: &str = r#"{
  "tokens": [{"token": "tenant-a"}, {"token": "tenant-b"}],
  "rate_limit": {"burst": 5, "refill_every_ms": 200},
  "generate": [{"user_id": "1008600000104285462", "id_prefix": "iFLEET", "count": 1000,
                "seed": 7, "ready_after_ms": [5000, 60000], "failure_rate": 0.05}],
  "outages": [{"from_ms": 100000, "for_ms": 30000, "retry_after_s": 2}]
}"#;

#[test]
fn a_few_lines_generate_a_thousand_instances_that_follow_their_timelines() {
    let scenario = Scenario::from_json(FLEET).unwrap();
    let entry = scenario.generate[0].clone();
    let mut sim = Simulator::new(scenario, 1).unwrap();
    let ids: Vec<String> = entry.ids().collect();
    assert_eq!(
        (ids.len(), ids[0].as_str(), ids[999].as_str()),
        (1000, "iFLEET000", "iFLEET999")
    );
    let mut failed = 0;
    for (i, id) in ids.iter().enumerate() {
        let ready = sim.koophone_reaches(id, KooPhoneStatus::Normal);
        let broken = sim.koophone_reaches(id, KooPhoneStatus::Failed);
        let done = ready
            .or(broken)
            .expect("every instance ends normal or failed");
        assert!(ready.is_none() || broken.is_none());
        assert!((Duration::from_secs(5)..=Duration::from_secs(60)).contains(&done));
        failed += usize::from(broken.is_some());
        // Ask a few of them through the API (spaced out: the rate limit).
        if i % 100 == 0 {
            let at = 20 * i as u64;
            let before = progress(
                &mut sim,
                "tenant-a",
                id,
                at + done.as_millis() as u64 / 2 % 1000,
            );
            assert_eq!(before.status(), 200);
            let after = progress(&mut sim, "tenant-b", id, at + 61_000);
            let expected = if broken.is_some() { -1 } else { 0 };
            assert_eq!(status_code(&after), Some(expected), "{id}");
        }
    }
    assert!(
        (25..=80).contains(&failed),
        "5% of 1000 failed, got {failed}"
    );
    // The owner is the generator's user: another user gets 1001.
    let body = br#"{"user_id":"someone-else","instance_id":"iFLEET000"}"#;
    let request = http::Request::post("/v1/instances/prepare-progress")
        .header("x-auth-token", "tenant-a")
        .body(&body[..])
        .unwrap();
    let answer = sim.handle(&request, Duration::from_secs(200)).response;
    assert!(String::from_utf8_lossy(answer.body()).contains("KOOPHONE.API.1001"));
}

#[test]
fn an_outage_answers_503_to_everything_for_its_window() {
    let mut sim = Simulator::new(Scenario::from_json(FLEET).unwrap(), 1).unwrap();
    // Spaced a second apart, so the rate limit never fires.
    for second in 95..135u64 {
        let answer = progress(&mut sim, "tenant-a", "iFLEET001", second * 1000);
        let inside = (100..130).contains(&second);
        assert_eq!(answer.status() == 503, inside, "at {second} s");
        if inside {
            assert_eq!(answer.headers()["retry-after"], "2");
        }
    }
    let counts: Vec<(u64, RequestCounts)> = sim.requests_per_second().collect();
    assert_eq!(counts.len(), 40);
    assert_eq!(counts.iter().map(|(_, c)| c.server_errors).sum::<u64>(), 30);
}

#[test]
fn the_rate_limit_is_per_tenant_and_per_second_counts_show_it() {
    let mut sim = Simulator::new(Scenario::from_json(FLEET).unwrap(), 1).unwrap();
    // 20 requests a second for 3 seconds from tenant a, 2 a second from b.
    for second in 0..3u64 {
        for i in 0..20 {
            let answer = progress(&mut sim, "tenant-a", "iFLEET002", second * 1000 + i * 50);
            if answer.status() == 429 {
                assert!(answer.headers().contains_key("retry-after"));
            }
        }
        for i in 0..2 {
            let answer = progress(&mut sim, "tenant-b", "iFLEET002", second * 1000 + i * 400);
            assert_eq!(answer.status(), 200, "tenant b stays within its own limit");
        }
    }
    let counts: Vec<(u64, RequestCounts)> = sim.requests_per_second().collect();
    assert_eq!(
        counts.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    for (second, c) in &counts {
        assert_eq!(c.requests, 22, "second {second}");
        // A burst of 5, then one every 200 ms: 5 to 10 of a's 20 get through.
        assert!((10..=15).contains(&c.throttled), "second {second}: {c:?}");
    }
    sim.clear_request_log();
    assert_eq!(sim.requests_per_second().count(), 0);
}

#[test]
fn counts_are_kept_even_without_a_request_log() {
    let mut scenario = Scenario::from_json(FLEET).unwrap();
    scenario.request_log_capacity = 0;
    scenario.rate_limit = None;
    let mut sim = Simulator::new(scenario, 1).unwrap();
    for i in 0..2500u64 {
        progress(&mut sim, "tenant-a", "iFLEET003", i);
    }
    assert_eq!(sim.request_log().len(), 0);
    let counts: Vec<u64> = sim.requests_per_second().map(|(_, c)| c.requests).collect();
    assert_eq!(counts, [1000, 1000, 500]);
}

#[test]
fn generated_instances_and_outages_are_validated() {
    let refused = |json: &str, field: &str| {
        let err = Scenario::from_json(json).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    };
    let entry = |extra: &str| {
        format!(
            r#"{{"generate":[{{"user_id":"u1","id_prefix":"iG","ready_after_ms":[1,2]{extra}}}]}}"#
        )
    };
    refused(&entry(r#","count":0"#), "generate[0].count");
    refused(
        &entry(r#","count":3,"failure_rate":1.5"#),
        "generate[0].failure_rate",
    );
    refused(
        r#"{"generate":[{"user_id":"u1","id_prefix":"iG","count":3,"ready_after_ms":[9,2]}]}"#,
        "generate[0].ready_after_ms",
    );
    // 31 characters of prefix and 2 digits: over KooPhone's 32.
    let long = format!(
        r#"{{"generate":[{{"user_id":"u1","id_prefix":"{}","count":11,"ready_after_ms":[1,2]}}]}}"#,
        "i".repeat(31)
    );
    refused(&long, "generate[0].id_prefix");
    // Ids must not collide with listed instances or another generator.
    refused(
        r#"{"koophone":{"users":[{"user_id":"u1","instances":[{"instance_id":"iG1","phases":[{"status":"normal"}]}]}]},
            "generate":[{"user_id":"u1","id_prefix":"iG","count":3,"ready_after_ms":[1,2]}]}"#,
        "generate[0].id_prefix",
    );
    refused(
        r#"{"outages":[{"from_ms":5,"for_ms":0}]}"#,
        "outages[0].for_ms",
    );
    refused(
        &entry(r#","count":3,"spread":"normal""#),
        "generate[0].spread",
    );
}

//! Demo of the async driver: one ShowProgress call, then a wait until the
//! phone is ready, printing each poll.
//!
//! `KOOPHONE_ENDPOINT` and `KOOPHONE_TOKEN` name a real endpoint; without
//! them the demo starts the simulator on 127.0.0.1 and uses that. The two
//! arguments are the user id and instance id (default: the simulator's
//! instance that queues, restores and becomes ready in about five seconds).

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use koophone_example_tokio::{Client, Config};
use koophone_proto::{Endpoint, RequestContext, ShowProgress, Token, UntilReady, WaitPolicy};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let user_id = args
        .next()
        .unwrap_or_else(|| "1008600000104285462".to_owned());
    let instance_id = args.next().unwrap_or_else(|| "iRJEVP9".to_owned());

    // Kept alive until the end of `run`: dropping it stops the simulator.
    let mut simulator = None;
    let (endpoint, token) = match (
        std::env::var("KOOPHONE_ENDPOINT"),
        std::env::var("KOOPHONE_TOKEN"),
    ) {
        (Ok(endpoint), Ok(token)) => (Endpoint::parse(&endpoint)?, Token::new(token)?),
        _ => {
            let sim = koophone_sim::Sim::start(koophone_sim::Scenario::default())?;
            eprintln!(
                "no KOOPHONE_ENDPOINT/KOOPHONE_TOKEN: using the simulator at {}",
                sim.base_url()
            );
            let endpoint = Endpoint::parse(sim.base_url())?;
            simulator = Some(sim);
            (endpoint, Token::new("sim-token")?)
        }
    };

    let client = Client::new(RequestContext::new(endpoint, token), Config::default())?;
    let op = ShowProgress::new(user_id, instance_id)?;

    let now = client.call(op.clone()).await?;
    println!(
        "now: {} (waiting count {:?})",
        now.status, now.waiting_count
    );

    let policy = WaitPolicy {
        max_wait: Duration::from_secs(120),
        ..WaitPolicy::default()
    };
    let ready = client
        .wait(op, UntilReady, policy, |seen| {
            eprintln!(
                "poll {} at {:?}: {:?}",
                seen.attempt, seen.elapsed, seen.event
            );
        })
        .await?;
    println!(
        "{} after {} polls in {:.1}s",
        ready.output.status,
        ready.polls,
        ready.elapsed.as_secs_f64()
    );
    drop(simulator);
    Ok(())
}

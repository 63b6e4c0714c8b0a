//! `koophone sim`: the simulator on a port of its own, until interrupted.

use clap::ArgMatches;
use koophone_sim::{Scenario, Sim};

use crate::args::{Global, SimArgs};
use crate::connect::{accept, simulator_failure};
use crate::credentials;
use crate::environment::process_env;
use crate::exit::{Failure, Kind};
use crate::interrupt::Interrupt;
use crate::output;

/// `sim`: serve until interrupted, announcing the address first. When the
/// announcement cannot be written nobody can learn the address: the
/// simulator stops at once and the write error is returned.
pub fn serve(
    args: &SimArgs,
    global: &Global,
    matches: &ArgMatches,
    interrupt: &Interrupt,
) -> Result<std::io::Result<()>, Failure> {
    let scenario = match &args.scenario {
        Some(path) => {
            Scenario::from_file(path).map_err(|e| Failure::invalid_input(e.to_string()))?
        }
        None => Scenario::default(),
    };
    let mut scenario = scenario;
    let mut sim = Sim::builder().seed(args.seed).listen(args.listen);
    if let Some(given) = credentials::resolve(global, matches, &process_env)? {
        sim = accept(sim, &mut scenario, &given);
    }
    let sim = sim.scenario(scenario);
    let handle = sim.start().map_err(simulator_failure)?;
    let announced = output::write_line(
        &mut std::io::stdout().lock(),
        &format!("listening on {}", handle.base_url()),
    );
    if let Err(e) = announced {
        handle.shutdown();
        return Ok(Err(e));
    }
    if !interrupt.wait() {
        return Err(Failure::plain(
            Kind::Transport,
            "cannot install a Ctrl-C handler to serve until interrupted",
        ));
    }
    handle.shutdown();
    Ok(Ok(()))
}

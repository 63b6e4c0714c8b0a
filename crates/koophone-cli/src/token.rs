//! `koophone token`: the one command whose purpose is to print a credential.

use std::time::Duration;

use koophone_sim::{Scenario, Sim, SimHandle};
use koophone_ureq::ClientBuilder;

use crate::args::Global;
use crate::connect::{
    add_iam_user, failure, iam_password, retry_policy, simulator_failure, simulator_iam_user,
};
use crate::credentials;
use crate::environment::process_env;
use crate::exit::Failure;
use crate::interrupt::Interrupt;
use crate::output::{self, Report};

/// `token`: ask IAM once for a project-scoped token (the simulator's IAM
/// with `--simulate`, whose default user stands in when no `--iam-*` flag is given).
pub fn issue_token(global: &Global, interrupt: &Interrupt) -> Result<Report, Failure> {
    let scenario = Scenario::default();
    let default_user = if global.simulate {
        simulator_iam_user(&scenario)
    } else {
        None
    };
    let login = credentials::resolve_iam(global, &process_env, default_user.as_ref())?.ok_or_else(
        || {
            Failure::invalid_input(
                "no IAM login: give --iam-user, --iam-domain and --iam-project, \
                 with the password in KOOPHONE_IAM_PASSWORD",
            )
        },
    )?;
    let simulator = if global.simulate {
        let mut scenario = scenario;
        add_iam_user(&mut scenario, &login);
        let sim = Sim::builder().scenario(scenario).start();
        Some(sim.map_err(simulator_failure)?)
    } else {
        None
    };
    let base_url = simulator.as_ref().map(SimHandle::base_url);
    let iam = iam_password(login, base_url, global.allow_http)?;
    let proxy = !iam.endpoint().is_loopback();
    let timeout = Duration::from_secs(global.timeout);
    let issued = ClientBuilder::default()
        .timeout(timeout)
        .retry_policy(retry_policy(timeout, global.retries))
        .proxy_from_env(proxy)
        .iam_password(iam)
        .cancel_token(interrupt.cancel_token())
        .issue_token()
        .map_err(failure)?;
    drop(simulator);
    Ok(output::issued_token(&issued))
}

//! The command line, as the contract in DESIGN.md writes it: scripts depend on
//! these names, defaults and environment variables, so change nothing here
//! without changing the contract.
//!
//! No type here derives `Debug`: [`Global`] holds the token. The IAM password
//! and the AK/SK secret key are no options at all: they are read from the
//! environment only (the credentials module), so clap never holds them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

const MAIN_EXAMPLES: &str = "\
Examples:
  koophone --simulate wait --user-id 1008600000104285462 --instance-id iRJEVP9
  KOOPHONE_ENDPOINT=https://koophone.example.com KOOPHONE_TOKEN=... \\
    koophone --output json progress --user-id 1008600000104285462 --instance-id iRJEVP9

Credentials, the first one given wins: --token, --token-file, KOOPHONE_TOKEN;
then HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK (AK/SK signing; optional
HUAWEICLOUD_SDK_SECURITY_TOKEN and HUAWEICLOUD_SDK_PROJECT_ID); then
--iam-user, --iam-domain, --iam-project with the password in KOOPHONE_IAM_PASSWORD;
then the profile file (HUAWEICLOUD_SDK_CREDENTIALS_FILE or ~/.huaweicloud/credentials,
section [basic]: ak, sk, optional security_token and project_id); then the
ECS/BMS instance metadata service (temporary credentials of the instance's agency;
KOOPHONE_METADATA_ENDPOINT overrides http://169.254.169.254; skipped with
--no-metadata or KOOPHONE_NO_METADATA=1).

Exit codes: 0 done; 2 usage or invalid input (nothing was sent); 3 the wait
deadline passed; 4 the service answered with an error (after retries);
5 transport failure or malformed response; 6 the instance reached a failure
state while waiting; 130 interrupted (Ctrl-C).";

/// Ask Huawei Cloud whether a KooPhone or CloudDC instance is ready, and wait until it is.
#[derive(Parser)]
#[command(name = "koophone", version, after_help = MAIN_EXAMPLES)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The global options of the contract, accepted before or after the command:
/// every one is made `global` here, once, rather than flag by flag.
#[derive(Args)]
#[command(mut_args = |arg| arg.global(true))]
pub struct Global {
    /// Base URL of the service; https required except for loopback hosts, unless --allow-http
    // The value stays out of `--help`: a URL may carry user-info (refused, but not to be echoed).
    #[arg(
        long,
        env = "KOOPHONE_ENDPOINT",
        value_name = "URL",
        hide_env_values = true
    )]
    pub endpoint: Option<String>,

    /// IAM token, sent as X-Auth-Token (never printed)
    #[arg(
        long,
        env = "KOOPHONE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// Read the token from this file (trailing newlines are trimmed)
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Start the embedded simulator on 127.0.0.1 and use it (no endpoint or token needed)
    #[arg(long)]
    pub simulate: bool,

    /// How results and errors are printed
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Per-request timeout in seconds (1 to 86400)
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub timeout: u64,

    /// Extra attempts for retryable failures (5xx, 429, connect errors, timeouts)
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,

    /// Permit plain http to non-loopback hosts (the token then travels in clear text)
    #[arg(long)]
    pub allow_http: bool,

    /// Pick the endpoint by region when no --endpoint is given:
    /// HUAWEICLOUD_SDK_REGION_{KOOPHONE|CLOUDDC}_{ID} first, then the official
    /// CloudDC table; an IAM login also uses that region's IAM endpoint
    #[arg(long, env = "KOOPHONE_REGION", value_name = "ID")]
    pub region: Option<String>,

    /// IAM user whose token is used, issued by IAM for the password in KOOPHONE_IAM_PASSWORD
    /// (used when no token and no HUAWEICLOUD_SDK_AK/HUAWEICLOUD_SDK_SK are given)
    #[arg(long, value_name = "NAME", help_heading = IAM_HEADING)]
    pub iam_user: Option<String>,

    /// The IAM user's domain (account) name
    #[arg(long, value_name = "NAME", help_heading = IAM_HEADING)]
    pub iam_domain: Option<String>,

    /// The project the IAM token is scoped to, by name (usually the region, e.g. cn-north-4)
    #[arg(long, value_name = "NAME", help_heading = IAM_HEADING)]
    pub iam_project: Option<String>,

    /// The IAM endpoint that issues the token.
    #[arg(
        long,
        help = "IAM endpoint that issues the token [default: https://iam.myhuaweicloud.com; the simulator with --simulate]",
        env = "HUAWEICLOUD_SDK_IAM_ENDPOINT",
        value_name = "URL",
        hide_env_values = true,
        help_heading = IAM_HEADING
    )]
    pub iam_endpoint: Option<String>,

    /// Do not ask the ECS/BMS instance metadata service for temporary credentials
    /// when no other credentials are found (KOOPHONE_NO_METADATA=1 does the same)
    #[arg(
        long,
        env = "KOOPHONE_NO_METADATA",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub no_metadata: bool,
}

const IAM_HEADING: &str = "IAM login (password from KOOPHONE_IAM_PASSWORD)";

/// `--output`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum OutputFormat {
    /// One readable line per result; a live progress line on a terminal.
    Human,
    /// Exactly one JSON document on stdout.
    Json,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// One ShowProgress call: how far the preparation of a cloud phone has got
    #[command(after_help = "Example:\n  \
        koophone --simulate progress --user-id 1008600000104285462 --instance-id iRJEVP9")]
    Progress(ProgressArgs),

    /// Poll ShowProgress until the cloud phone is normal
    #[command(after_help = "Example:\n  \
        koophone --simulate wait --user-id 1008600000104285462 --instance-id iRJEVP9")]
    Wait(WaitArgs),

    /// One ShowInstanceStatus call: the state of a CloudDC instance
    #[command(after_help = "Example:\n  \
        koophone --simulate status --project-id sim-project --instance-id sim-instance")]
    Status(StatusArgs),

    /// Poll ShowInstanceStatus until the instance reaches a state
    #[command(after_help = "Example:\n  \
        koophone --simulate wait-state --project-id sim-project --instance-id sim-starting --state running\n\n\
        Reaching error, failed or terminated (other than the state waited for) ends the wait with exit code 6.")]
    WaitState(WaitStateArgs),

    /// BatchPrepareInstances: prepare cloud phones, in calls of at most 100 ids;
    /// with --wait, then wait for every prepared instance as `wait` does
    #[command(after_help = "Examples:\n  \
        koophone --simulate prepare --user-id 1008600000104285462 --instance-id iPREP001 --wait\n  \
        koophone prepare --user-id 1008600000104285462 --instances-file phones.txt\n\n\
        The instances file (`-` for stdin) holds one id a line; blank lines and lines starting\n\
        with # are skipped, duplicates dropped, order kept. Every id is checked (1 to 32\n\
        characters) before anything is sent; a failed call stops the command before later batches.")]
    Prepare(PrepareArgs),

    /// Serve the simulator over HTTP until interrupted
    #[command(after_help = "Example:\n  \
        koophone sim --listen 127.0.0.1:8080 --seed 7\n\n\
        The first line on stdout is `listening on http://ADDR` (use port 0 to let the OS choose).\n\
        A token given with --token, --token-file or KOOPHONE_TOKEN replaces the scenario's tokens.")]
    Sim(SimArgs),

    /// Issue a project-scoped IAM token and print it (the one command that prints a credential)
    #[command(after_help = "Example:\n  \
        KOOPHONE_IAM_PASSWORD=... koophone token --iam-user NAME --iam-domain NAME --iam-project cn-north-4\n\n\
        Prints the token alone on stdout; with --output json {\"token\":...,\"expires_at\":\"RFC 3339 time\"}.\n\
        With --simulate and no --iam-* flags, the simulator's default IAM user is used.")]
    Token,

    /// Print a shell completion script
    #[command(after_help = "Example:\n  \
        koophone completions bash > /etc/bash_completion.d/koophone")]
    Completions(CompletionsArgs),

    /// Print the man page (roff): koophone(1), or a command's own koophone-COMMAND(1)
    #[command(after_help = "Example:\n  \
        koophone man | man -l -\n  \
        koophone man > ~/.local/share/man/man1/koophone.1\n  \
        koophone man wait > ~/.local/share/man/man1/koophone-wait.1")]
    Man(ManArgs),
}

/// The ids of a KooPhone cloud phone.
#[derive(Args)]
pub struct ProgressArgs {
    /// KooPhone user id (at most 32 characters)
    #[arg(long, value_name = "ID")]
    pub user_id: String,
    /// Cloud phone instance id (at most 32 characters)
    #[arg(long, value_name = "ID")]
    pub instance_id: String,
}

/// `prepare`.
#[derive(Args)]
#[command(group = clap::ArgGroup::new("instances").required(true).multiple(true))]
pub struct PrepareArgs {
    /// KooPhone user id (at most 32 characters)
    #[arg(long, value_name = "ID")]
    pub user_id: String,
    /// Cloud phone instance id (at most 32 characters); may be given more than once
    #[arg(long, value_name = "ID", group = "instances")]
    pub instance_id: Vec<String>,
    /// File of instance ids, one a line (`-` reads stdin)
    #[arg(long, value_name = "PATH", group = "instances")]
    pub instances_file: Option<PathBuf>,
    /// Then poll ShowProgress until every prepared instance is normal
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds in all (exit code 3)
    #[arg(long, value_name = "SECS", default_value_t = 600, requires = "wait")]
    pub max_wait: u64,
    /// With --wait: shortest pause between polls, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 1000, requires = "wait")]
    pub min_interval: u64,
    /// With --wait: longest pause between polls, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 15000, requires = "wait")]
    pub max_interval: u64,
    /// With --wait, for several instances: how the fleet shares the service.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

impl PrepareArgs {
    /// The polling options, as `wait` takes them.
    pub fn poll(&self) -> PollArgs {
        PollArgs {
            max_wait: self.max_wait,
            min_interval: self.min_interval,
            max_interval: self.max_interval,
        }
    }
}

/// The ids of a CloudDC instance.
#[derive(Args)]
pub struct StatusArgs {
    /// CloudDC project id
    #[arg(long, value_name = "ID")]
    pub project_id: String,
    /// CloudDC instance id
    #[arg(long, value_name = "ID")]
    pub instance_id: String,
}

/// `wait`.
#[derive(Args)]
pub struct WaitArgs {
    /// KooPhone user id (at most 32 characters)
    #[arg(long, value_name = "ID")]
    pub user_id: String,
    /// Which phones.
    #[command(flatten)]
    pub instances: InstancesArgs,
    /// How to poll.
    #[command(flatten)]
    pub poll: PollArgs,
    /// How a fleet shares the service.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// The instances of a wait: one, or a fleet.
#[derive(Args)]
pub struct InstancesArgs {
    /// Instance id; give it more than once to wait for several at once
    #[arg(
        long = "instance-id",
        value_name = "ID",
        required_unless_present = "instances_file"
    )]
    pub instance_ids: Vec<String>,
    /// Read instance ids from this file (- for stdin): one a line, blank lines
    /// and # comments skipped, duplicates dropped, order kept
    #[arg(long, value_name = "PATH")]
    pub instances_file: Option<PathBuf>,
}

/// How a wait for several instances shares the service.
#[derive(Args)]
pub struct FleetArgs {
    /// Requests in flight at once when waiting for several instances
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Requests per second for the whole fleet; never exceeded in any
    /// one-second window, lowered while the service answers 429
    #[arg(long, value_name = "R", default_value_t = 20.0)]
    pub rate: f64,
}

/// `wait-state`.
#[derive(Args)]
pub struct WaitStateArgs {
    /// CloudDC project id
    #[arg(long, value_name = "ID")]
    pub project_id: String,
    /// Which instances.
    #[command(flatten)]
    pub instances: InstancesArgs,
    /// The state to wait for (pending, running, stopping, stopped, reinstalling,
    /// shutting-down, terminated, error, failed, or any other string as the service sends it)
    #[arg(long, value_name = "STATE")]
    pub state: String,
    /// How to poll.
    #[command(flatten)]
    pub poll: PollArgs,
    /// How a fleet shares the service.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// The polling options of both waits.
#[derive(Args)]
pub struct PollArgs {
    /// Give up after this many seconds (exit code 3)
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub max_wait: u64,
    /// Shortest pause between polls, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub min_interval: u64,
    /// Longest pause between polls, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 15000)]
    pub max_interval: u64,
}

/// `sim`.
#[derive(Args)]
pub struct SimArgs {
    /// Address to listen on (port 0 lets the OS choose)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Scenario file (JSON); the built-in default scenario when absent
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Seed of fault injection and request ids
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
}

/// `completions`.
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell to print the script for
    #[arg(value_enum)]
    pub shell: Shell,
}

/// `man`.
#[derive(Args)]
pub struct ManArgs {
    /// The command whose page to print (koophone-COMMAND(1)); koophone(1) when absent
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

//! `koophone-sim`: serve the simulator until interrupted. Prints
//! `listening on http://ADDR` as the first line on stdout, so scripts can
//! start it on port 0 and read where it went.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use koophone_sim::{Scenario, Sim};

/// Serve the KooPhone/CloudDC simulator over HTTP until Ctrl-C.
#[derive(Debug, Parser)]
#[command(name = "koophone-sim", version)]
struct Args {
    /// Address to listen on (port 0 lets the OS choose).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Scenario file (JSON); the built-in default scenario when absent.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Seed of fault injection and request ids.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Accept this token instead of the scenario's tokens.
    #[arg(long, hide_default_value = true)]
    token: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let scenario = match &args.scenario {
        Some(path) => match Scenario::from_file(path) {
            Ok(scenario) => scenario,
            Err(err) => {
                eprintln!("koophone-sim: {err}");
                return ExitCode::from(2);
            }
        },
        None => Scenario::default(),
    };
    let mut builder = Sim::builder()
        .scenario(scenario)
        .seed(args.seed)
        .listen(args.listen);
    if let Some(token) = args.token {
        builder = builder.token(token);
    }
    let handle = match builder.start() {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("koophone-sim: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on {}", handle.base_url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    if let Err(err) = wait_for_interrupt() {
        eprintln!("koophone-sim: cannot wait for a signal: {err}");
    }
    handle.shutdown();
    ExitCode::SUCCESS
}

/// Blocks until SIGINT (Ctrl-C) or, on Unix, SIGTERM.
fn wait_for_interrupt() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    })
}

//! Which credentials a command uses. All of it is in [`resolve`], so AK/SK
//! signing and IAM-issued tokens slot in as further sources, in the
//! contract's order.

use std::path::Path;

use clap::ArgMatches;
use clap::parser::ValueSource;
use koophone_ureq::{Credentials, Token};

use crate::args::Global;
use crate::exit::Failure;

/// The credentials given, the first one given winning: `--token`, then
/// `--token-file`, then `KOOPHONE_TOKEN`. `None` when none was given.
///
/// clap reads `KOOPHONE_TOKEN` into the same field as `--token`, so the
/// value's source tells a typed token (first) from the environment's (last).
/// No message here repeats a token.
pub fn resolve(global: &Global, matches: &ArgMatches) -> Result<Option<Credentials>, Failure> {
    let token_source = matches.value_source("token");
    if let (Some(token), Some(ValueSource::CommandLine)) = (&global.token, token_source) {
        return token_from("--token", token).map(Some);
    }
    if let Some(path) = &global.token_file {
        return read_token_file(path).map(Some);
    }
    if let Some(token) = &global.token {
        return token_from("KOOPHONE_TOKEN", token).map(Some);
    }
    Ok(None)
}

fn token_from(origin: &str, text: &str) -> Result<Credentials, Failure> {
    Token::new(text)
        .map(Credentials::Token)
        .map_err(|e| Failure::invalid_input(format!("{e} (from {origin})")))
}

fn read_token_file(path: &Path) -> Result<Credentials, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::invalid_input(format!("cannot read token file {}: {e}", path.display()))
    })?;
    token_from("--token-file", text.trim_end_matches(['\n', '\r']))
}

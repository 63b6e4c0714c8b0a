//! The command line cargo hands a bench binary, and how the binary ends.

use std::process::ExitCode;

/// A bench binary's arguments: `--bench` (given by `cargo bench`: a full
/// run; without it, as under `cargo test --benches`, a smoke pass) and
/// options that take a number. Anything else (criterion-style filters and
/// flags cargo may pass) is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchArgs {
    /// Whether `--bench` was given.
    pub bench: bool,
    numbers: Vec<(String, u64)>,
}

impl BenchArgs {
    /// This process's arguments; `options` are the names (`--rounds`) that
    /// take a number.
    pub fn parse(options: &[&str]) -> Result<BenchArgs, String> {
        BenchArgs::from_args(std::env::args().skip(1), options)
    }

    /// [`BenchArgs::parse`] over any argument list (the program name left out).
    pub fn from_args(
        args: impl IntoIterator<Item = String>,
        options: &[&str],
    ) -> Result<BenchArgs, String> {
        let mut args = args.into_iter();
        let mut parsed = BenchArgs {
            bench: false,
            numbers: Vec::new(),
        };
        while let Some(arg) = args.next() {
            if arg == "--bench" {
                parsed.bench = true;
            } else if options.contains(&arg.as_str()) {
                let value = args
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(format!("{arg} needs a number"))?;
                parsed.numbers.push((arg, value));
            }
        }
        Ok(parsed)
    }

    /// The last number given for `option`.
    pub fn number(&self, option: &str) -> Option<u64> {
        self.numbers
            .iter()
            .rev()
            .find(|(name, _)| name == option)
            .map(|(_, value)| *value)
    }

    /// The number given for `option`, which must be positive, or `default`.
    pub fn positive(&self, option: &str, default: u64) -> Result<u64, String> {
        match self.number(option) {
            None => Ok(default),
            Some(0) => Err(format!("{option} needs a positive number")),
            Some(n) => Ok(n),
        }
    }
}

/// How a bench binary named `name` ends: success, or its error on stderr
/// and a failing status.
pub fn exit(name: &str, outcome: Result<(), String>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<BenchArgs, String> {
        BenchArgs::from_args(args.iter().map(|a| a.to_string()), &["--rounds", "--seed"])
    }

    #[test]
    fn options_flags_and_ignored_arguments() {
        let args = parse(&[
            "--bench", "filter", "--rounds", "7", "--other", "--seed", "0",
        ])
        .unwrap();
        assert!(args.bench);
        assert_eq!(args.number("--rounds"), Some(7));
        assert_eq!(args.number("--seed"), Some(0));
        assert_eq!(
            args.positive("--seed", 3),
            Err("--seed needs a positive number".into())
        );
        assert_eq!(args.positive("--batch", 3), Ok(3));
        assert!(!parse(&[]).unwrap().bench);
        assert_eq!(
            parse(&["--rounds", "x"]),
            Err("--rounds needs a number".into())
        );
        assert_eq!(parse(&["--rounds"]), Err("--rounds needs a number".into()));
    }
}

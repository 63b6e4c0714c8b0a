//! Which instances a command works on: `--instance-id` (repeatable) and
//! `--instances-file PATH|-`, read the one way every command reads them.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use crate::exit::Failure;

/// The ids given with `--instance-id`, then those of `file` (`-` is stdin),
/// duplicates dropped and the first occurrence's order kept. An empty list
/// is invalid input (nothing is sent).
pub fn instance_ids(given: &[String], file: Option<&Path>) -> Result<Vec<String>, Failure> {
    let mut ids: Vec<String> = given.to_vec();
    if let Some(path) = file {
        let text = read_source(path)?;
        ids.extend(parse_instance_ids(&text));
    }
    let mut seen = HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if ids.is_empty() {
        return Err(Failure::invalid_input(
            "no instance id given (--instance-id, or ids in --instances-file)",
        ));
    }
    Ok(ids)
}

/// The ids of an instances file: one a line, surrounding whitespace trimmed,
/// blank lines and lines starting with `#` skipped.
pub fn parse_instance_ids(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
}

/// The whole file, or stdin for `-`.
fn read_source(path: &Path) -> Result<String, Failure> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().lock().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| {
        let from = if path == Path::new("-") {
            "stdin".to_owned()
        } else {
            path.display().to_string()
        };
        Failure::invalid_input(format!("cannot read the instances file {from}: {e}"))
    })?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blanks_and_duplicates_are_skipped_in_order() {
        let text = "# fleet A\niB\n\n  iA  \r\niB\n#iC\niC\n";
        let ids: Vec<String> = parse_instance_ids(text).collect();
        assert_eq!(ids, ["iB", "iA", "iB", "iC"]);
        let given = ["iC".to_owned(), "iA".to_owned(), "iC".to_owned()];
        assert_eq!(instance_ids(&given, None).unwrap(), ["iC", "iA"]);
    }

    #[test]
    fn no_id_at_all_is_invalid_input() {
        assert_eq!(instance_ids(&[], None).unwrap_err().exit_code(), 2);
    }
}

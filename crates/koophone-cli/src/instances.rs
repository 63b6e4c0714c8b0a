//! The instance ids a command is given: `--instance-id` (repeatable), then
//! the lines of `--instances-file` (`-` for stdin). Blank lines and `#`
//! comments are skipped, surrounding whitespace trimmed, duplicates dropped
//! (the first keeps its place). The ids are not checked here: the operation's
//! constructor does that before anything is sent.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use crate::exit::Failure;

/// Every id, in order, each once.
pub fn instance_ids(given: &[String], file: Option<&Path>) -> Result<Vec<String>, Failure> {
    let text = match file {
        None => String::new(),
        Some(path) => read(path)?,
    };
    Ok(collect(given, &text))
}

fn read(path: &Path) -> Result<String, Failure> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().lock().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_string(&mut text))
    };
    read.map_err(|e| {
        Failure::invalid_input(format!(
            "cannot read instances file {}: {e}",
            path.display()
        ))
    })?;
    Ok(text)
}

/// The ids of `given`, then of `text`'s lines.
fn collect(given: &[String], text: &str) -> Vec<String> {
    let from_file = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    let mut seen = HashSet::new();
    given
        .iter()
        .map(String::as_str)
        .chain(from_file)
        .filter(|id| seen.insert(*id))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_then_file_lines_each_once_in_order() {
        let given = vec!["b".to_owned(), "a".to_owned()];
        let text = "# phones\n\nc\r\n  a  \nd # not a comment\n#x\nc\n";
        assert_eq!(collect(&given, text), ["b", "a", "c", "d # not a comment"]);
        assert!(collect(&[], "\n# only comments\n   \n").is_empty());
    }

    #[test]
    fn an_unreadable_file_is_invalid_input() {
        let err = instance_ids(&[], Some(Path::new("/nonexistent/koophone-ids.txt"))).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.line.contains("/nonexistent/koophone-ids.txt"),
            "{}",
            err.line
        );
    }
}

//! The `koophone` command (lands with the CLI issue).

fn main() {}

//! The process environment, read through one function type so tests can
//! pass a table instead.

/// Reads an environment variable; the process environment, or a table in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, with unset, empty and non-UTF-8 values alike absent.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

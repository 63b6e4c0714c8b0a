//! Cross-crate test support: loading the conformance vectors in `tests/vectors/`.

//! Tutorial examples; each is a file next to this one, run with
//! `cargo run -p examples --example <name>`.

//! Nothing to use here: the examples are `bookstore.rs`, `users.rs` and
//! `greeter.rs` beside this file, run with `cargo run --example <name>`.

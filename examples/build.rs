//! Generates the examples' code from `examples/proto` (see `examples/`):
//! messages, clients and server traits, with `ferrule-build`.

fn main() -> std::io::Result<()> {
    ferrule_build::configure().compile(
        &[
            "proto/bookstore.proto",
            "proto/hello.proto",
            "proto/users.proto",
        ],
        &["proto"],
    )
}

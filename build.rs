//! Generates the examples' code from `examples/proto` (see `examples/`):
//! messages, clients and server traits, with `ferrule-build`.

fn main() -> std::io::Result<()> {
    ferrule_build::configure().compile(
        &[
            "examples/proto/bookstore.proto",
            "examples/proto/hello.proto",
            "examples/proto/users.proto",
        ],
        &["examples/proto"],
    )
}

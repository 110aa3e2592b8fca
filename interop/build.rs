//! Generates the grpc.testing messages, clients, server traits and method
//! descriptors from `proto/grpc/testing/*.proto` with ferrule-build (protox:
//! no protoc). `src/server.rs` implements the generated `TestService` trait.

fn main() -> std::io::Result<()> {
    ferrule_build::configure()
        .build_server(true)
        .compile(&["proto/grpc/testing/test.proto"], &["proto"])
}

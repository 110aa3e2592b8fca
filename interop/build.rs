//! Generates the grpc.testing messages, clients and method descriptors from
//! `proto/grpc/testing/*.proto` with ferrule-build (protox: no protoc). The
//! server is registered by hand (`src/server.rs`) with a codec that digests
//! each request, so the generated server traits are not needed.

fn main() -> std::io::Result<()> {
    ferrule_build::configure()
        .build_server(false)
        .compile(&["proto/grpc/testing/test.proto"], &["proto"])
}

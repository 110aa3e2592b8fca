//! Generates the tonic servers for the benchmark protos (protox: no protoc needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["../proto/helloworld.proto", "../proto/echo.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["../proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}

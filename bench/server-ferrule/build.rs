//! Generates the ferrule servers for the benchmark protos.

fn main() -> std::io::Result<()> {
    ferrule_build::configure().compile(
        &["../proto/helloworld.proto", "../proto/echo.proto"],
        &["../proto"],
    )
}

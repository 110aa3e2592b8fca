//! The bookstore service of the examples, generated with ferrule-build (its
//! `FILE_DESCRIPTOR_SET` feeds the reflection service).

fn main() -> std::io::Result<()> {
    ferrule_build::compile_protos("../../examples/proto/bookstore.proto")
}

//! `Builder::compile` end to end: protox parses, prost-build writes, files
//! land in the output folder.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use prost::Message;
use prost_types::FileDescriptorSet;

const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/protos");

/// A fresh, empty output folder per test.
fn out_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ferrule-build-tests")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn builder(dir: &Path) -> ferrule_build::Builder {
    ferrule_build::configure()
        .out_dir(dir)
        .emit_rerun_if_changed(false)
}

#[test]
fn writes_one_file_per_package_and_the_descriptor_set() {
    let dir = out_dir("basic");
    builder(&dir).compile(&["shop.proto"], &[PROTOS]).unwrap();

    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // google.protobuf maps to prost-types: no file for it.
    assert_eq!(
        names,
        ["ferrule_descriptor_set.bin", "shop.common.rs", "shop.v1.rs"]
    );

    let shop = read(&dir, "shop.v1.rs");
    assert!(shop.contains("pub mod bookstore_client"));
    assert!(shop.contains("pub mod bookstore_server"));
    assert!(shop.contains("pub mod warehouse_server"));
    assert!(shop.contains(
        "pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(\"ferrule_descriptor_set.bin\");"
    ));
    assert_eq!(shop.matches("pub const FILE_DESCRIPTOR_SET").count(), 1);
    // A package without services gets messages only.
    let common = read(&dir, "shop.common.rs");
    assert!(common.contains("pub struct Note"));
    assert!(!common.contains("FILE_DESCRIPTOR_SET"));
    assert!(!common.contains("codegen"));

    let bytes = fs::read(dir.join("ferrule_descriptor_set.bin")).unwrap();
    let set = FileDescriptorSet::decode(&bytes[..]).unwrap();
    let files: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
    for expected in [
        "google/protobuf/empty.proto",
        "google/protobuf/timestamp.proto",
        "common.proto",
        "shop.proto",
    ] {
        assert!(
            files.contains(&expected),
            "{expected} missing from {files:?}"
        );
    }
    let shop_file = set.file.iter().find(|f| f.name() == "shop.proto").unwrap();
    let services: Vec<&str> = shop_file.service.iter().map(|s| s.name()).collect();
    assert_eq!(services, ["Bookstore", "Warehouse"]);
    // Source info is kept, so reflection clients can show the comments.
    assert!(shop_file.source_code_info.is_some());
}

#[test]
fn client_and_server_can_be_left_out() {
    let dir = out_dir("client-only");
    builder(&dir)
        .build_server(false)
        .compile(&["shop.proto"], &[PROTOS])
        .unwrap();
    let shop = read(&dir, "shop.v1.rs");
    assert!(shop.contains("pub mod bookstore_client"));
    assert!(!shop.contains("_server"));
    assert!(shop.contains("pub mod bookstore_methods"));

    let dir = out_dir("server-only");
    builder(&dir)
        .build_client(false)
        .compile(&["shop.proto"], &[PROTOS])
        .unwrap();
    let shop = read(&dir, "shop.v1.rs");
    assert!(shop.contains("pub mod bookstore_server"));
    assert!(!shop.contains("_client"));
}

#[test]
fn codegen_path_is_configurable() {
    let dir = out_dir("codegen-path");
    builder(&dir)
        .codegen_path("::ferrule_core::api::codegen")
        .compile(&["shop.proto"], &[PROTOS])
        .unwrap();
    let shop = read(&dir, "shop.v1.rs");
    assert!(shop.contains("::ferrule_core::api::codegen::MethodDescriptor"));
    assert!(!shop.contains("::ferrule::codegen"));
}

#[test]
fn a_codegen_path_that_is_not_a_path_is_refused_before_writing() {
    for bad in [
        "",
        "::",
        "ferrule::",
        "a b",
        "::ferrule::codegen;",
        "9x::y",
        "a::::b",
    ] {
        let dir = out_dir("bad-codegen-path");
        let error = builder(&dir)
            .codegen_path(bad)
            .compile(&["shop.proto"], &[PROTOS])
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert!(error.to_string().contains("codegen_path"), "{error}");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "{bad:?}");
    }
    for good in [
        "ferrule::codegen",
        "crate::codegen",
        "::r#async::x",
        "_private",
    ] {
        let dir = out_dir("good-codegen-path");
        builder(&dir)
            .codegen_path(good)
            .compile(&["nopackage.proto"], &[PROTOS])
            .unwrap();
    }
}

#[test]
fn descriptor_set_can_be_skipped_or_renamed() {
    let dir = out_dir("no-descriptor");
    builder(&dir)
        .skip_file_descriptor_set()
        .compile(&["shop.proto"], &[PROTOS])
        .unwrap();
    assert!(!dir.join("ferrule_descriptor_set.bin").exists());
    assert!(!read(&dir, "shop.v1.rs").contains("FILE_DESCRIPTOR_SET"));

    let dir = out_dir("renamed-descriptor");
    builder(&dir)
        .file_descriptor_set_name("shop.bin")
        .compile(&["shop.proto"], &[PROTOS])
        .unwrap();
    assert!(dir.join("shop.bin").exists());
    assert!(read(&dir, "shop.v1.rs").contains("include_bytes!(\"shop.bin\")"));
}

#[test]
fn a_proto_without_package_goes_to_the_default_file() {
    let dir = out_dir("no-package");
    builder(&dir)
        .compile(&["nopackage.proto"], &[PROTOS])
        .unwrap();
    let source = read(&dir, "_.rs");
    assert!(source.contains("\"/Echoer/Say\""));
    assert!(source.contains("pub const SERVICE_NAME: &str = \"Echoer\";"));
    assert!(source.contains("pub mod echoer_client"));
}

#[test]
fn include_file_nests_the_packages() {
    let dir = out_dir("include-file");
    builder(&dir)
        .include_file("protos.rs")
        .compile(&["shop.proto"], &[PROTOS])
        .unwrap();
    let include = read(&dir, "protos.rs");
    assert!(include.contains("pub mod shop {"), "{include}");
    assert!(include.contains("pub mod v1 {"), "{include}");
    assert!(include.contains("shop.v1.rs"), "{include}");
}

#[test]
fn compile_fds_takes_descriptors_made_elsewhere() {
    let set = protox::compile(["shop.proto"], [PROTOS]).unwrap();
    let dir = out_dir("fds");
    builder(&dir).compile_fds(set.clone()).unwrap();
    assert!(read(&dir, "shop.v1.rs").contains("pub mod bookstore_server"));
    let written = fs::read(dir.join("ferrule_descriptor_set.bin")).unwrap();
    assert_eq!(FileDescriptorSet::decode(&written[..]).unwrap(), set);
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let dir = out_dir("errors");
    let error = builder(&dir)
        .compile(&["broken.proto"], &[PROTOS])
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    let message = error.to_string();
    assert!(message.contains("broken.proto"), "{message}");
    assert!(message.contains("Missing"), "{message}");

    let error = builder(&dir)
        .compile(&["absent.proto"], &[PROTOS])
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("absent.proto"), "{message}");

    // Nothing was written for the failed compiles.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn unchanged_output_is_not_rewritten() {
    let dir = out_dir("unchanged");
    builder(&dir).compile(&["shop.proto"], &[PROTOS]).unwrap();
    let stamp = |name: &str| fs::metadata(dir.join(name)).unwrap().modified().unwrap();
    let before = (stamp("shop.v1.rs"), stamp("ferrule_descriptor_set.bin"));
    // Coarse file-system clocks would hide a rewrite made within the same tick.
    std::thread::sleep(std::time::Duration::from_millis(20));
    builder(&dir).compile(&["shop.proto"], &[PROTOS]).unwrap();
    let after = (stamp("shop.v1.rs"), stamp("ferrule_descriptor_set.bin"));
    assert_eq!(before, after);
}

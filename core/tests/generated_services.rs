//! The health and reflection services' generated code is committed (so
//! building ferrule-core needs no build script, protox or prost-build); this
//! test regenerates it from `core/proto` with ferrule-build and fails on any
//! difference. After changing a `.proto` or the generator, bless the new
//! output with
//!
//! ```text
//! FERRULE_BLESS=1 cargo test -p ferrule-core --test generated_services
//! ```

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

/// Where each service's generated code lives, and how it is generated.
struct Target {
    /// Folder under `core/src/api` that holds the committed files.
    folder: &'static str,
    /// The `.proto` files compiled together (relative to `core/proto`).
    protos: &'static [&'static str],
    /// The descriptor set's file name.
    descriptor_set: &'static str,
    /// Whether to emit the server trait.
    server: bool,
}

const TARGETS: &[Target] = &[
    Target {
        folder: "health/generated",
        protos: &["grpc/health/v1/health.proto"],
        descriptor_set: "health_v1.bin",
        server: true,
    },
    Target {
        folder: "reflection/generated",
        protos: &["grpc/reflection/v1/reflection.proto"],
        descriptor_set: "reflection_v1.bin",
        server: true,
    },
    // v1alpha is served by the v1 implementation (the two are the same on the
    // wire): its messages, descriptors and client are generated, no trait.
    Target {
        folder: "reflection/generated",
        protos: &["grpc/reflection/v1alpha/reflection.proto"],
        descriptor_set: "reflection_v1alpha.bin",
        server: false,
    },
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate(target: &Target, out: &Path) {
    let proto_dir = crate_dir().join("proto");
    let protos: Vec<PathBuf> = target.protos.iter().map(|p| proto_dir.join(p)).collect();
    ferrule_build::configure()
        .codegen_path("crate::api::codegen")
        .build_server(target.server)
        .file_descriptor_set_name(target.descriptor_set)
        // Descriptor bytes are shared by every reflection response.
        .bytes(".")
        .emit_rerun_if_changed(false)
        .out_dir(out)
        .compile(&protos, &[&proto_dir])
        .unwrap();
}

/// The files of `dir`, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            (name, fs::read(entry.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn committed_code_matches_the_protos() {
    let bless = std::env::var_os("FERRULE_BLESS").is_some();
    let scratch = std::env::temp_dir().join(format!("ferrule-generated-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    let mut folders: Vec<&str> = TARGETS.iter().map(|t| t.folder).collect();
    folders.dedup();
    for target in TARGETS {
        generate(target, &scratch.join(target.folder));
    }
    let mut stale = Vec::new();
    for folder in folders {
        let fresh = files(&scratch.join(folder));
        let committed_dir = crate_dir().join("src/api").join(folder);
        if bless {
            fs::create_dir_all(&committed_dir).unwrap();
            for (name, content) in &fresh {
                fs::write(committed_dir.join(name), content).unwrap();
            }
            continue;
        }
        let committed = if committed_dir.exists() {
            files(&committed_dir)
        } else {
            Vec::new()
        };
        if committed != fresh {
            let names =
                |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            let changed: Vec<&String> = fresh
                .iter()
                .filter(|(name, content)| !committed.iter().any(|(n, c)| n == name && c == content))
                .map(|(name, _)| name)
                .collect();
            stale.push(format!(
                "src/api/{folder}: committed {:?}, generated {:?}, differing {changed:?}",
                names(&committed),
                names(&fresh)
            ));
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    assert!(
        stale.is_empty(),
        "the committed generated code is stale (regenerate with FERRULE_BLESS=1 cargo test \
         -p ferrule-core --test generated_services):\n{}",
        stale.join("\n")
    );
}

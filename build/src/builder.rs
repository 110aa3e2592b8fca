//! [`Builder`]: what to generate and where, then protox -> prost-build.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use prost_build::Config;
use prost_types::FileDescriptorSet;

use crate::generator::{GeneratorOptions, ServiceGenerator};

/// The path generated code uses for ferrule's code generation support: the
/// facade crate's re-export of `ferrule_core::api::codegen`.
pub const DEFAULT_CODEGEN_PATH: &str = "::ferrule::codegen";

/// The file name, in the output directory, of the encoded
/// `FileDescriptorSet` of the compiled protos.
pub const DEFAULT_FILE_DESCRIPTOR_SET_NAME: &str = "ferrule_descriptor_set.bin";

/// Chooses what to generate from `.proto` files, then compiles them.
///
/// Made by [`configure`](crate::configure); every setter consumes and returns
/// the builder so calls chain, and [`compile`](Builder::compile) ends the
/// chain.
#[derive(Clone, Debug)]
#[must_use = "a Builder does nothing until compile() is called"]
pub struct Builder {
    build_client: bool,
    build_server: bool,
    codegen_path: String,
    out_dir: Option<PathBuf>,
    file_descriptor_set_name: Option<String>,
    emit_rerun_if_changed: bool,
    include_file: Option<PathBuf>,
    compile_well_known_types: bool,
    extern_paths: Vec<(String, String)>,
    type_attributes: Vec<(String, String)>,
    message_attributes: Vec<(String, String)>,
    enum_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    bytes: Vec<String>,
    btree_map: Vec<String>,
    boxed: Vec<String>,
    disable_comments: Vec<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// The defaults: client and server, [`DEFAULT_CODEGEN_PATH`], output in
    /// `$OUT_DIR`, descriptor set in [`DEFAULT_FILE_DESCRIPTOR_SET_NAME`],
    /// `cargo:rerun-if-changed` lines for every `.proto` read.
    pub fn new() -> Self {
        Builder {
            build_client: true,
            build_server: true,
            codegen_path: DEFAULT_CODEGEN_PATH.to_owned(),
            out_dir: None,
            file_descriptor_set_name: Some(DEFAULT_FILE_DESCRIPTOR_SET_NAME.to_owned()),
            emit_rerun_if_changed: true,
            include_file: None,
            compile_well_known_types: false,
            extern_paths: Vec::new(),
            type_attributes: Vec::new(),
            message_attributes: Vec::new(),
            enum_attributes: Vec::new(),
            field_attributes: Vec::new(),
            bytes: Vec::new(),
            btree_map: Vec::new(),
            boxed: Vec::new(),
            disable_comments: Vec::new(),
        }
    }

    /// Whether to generate the `<service>_client` modules (default `true`).
    pub fn build_client(mut self, enable: bool) -> Self {
        self.build_client = enable;
        self
    }

    /// Whether to generate the `<service>_server` modules (default `true`).
    pub fn build_server(mut self, enable: bool) -> Self {
        self.build_server = enable;
        self
    }

    /// The Rust path generated code uses for ferrule's codegen support
    /// (default [`DEFAULT_CODEGEN_PATH`], `::ferrule::codegen`).
    ///
    /// A crate that depends on `ferrule-core` rather than the facade sets
    /// `::ferrule_core::api::codegen`; a crate that renames the dependency sets
    /// its own name.
    pub fn codegen_path(mut self, path: impl Into<String>) -> Self {
        self.codegen_path = path.into();
        self
    }

    /// Where to write the generated files (default: `$OUT_DIR`, which Cargo
    /// sets for build scripts).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// The file name, in the output directory, for the encoded
    /// `FileDescriptorSet` (default [`DEFAULT_FILE_DESCRIPTOR_SET_NAME`]);
    /// generated packages with services refer to it by this name.
    pub fn file_descriptor_set_name(mut self, name: impl Into<String>) -> Self {
        self.file_descriptor_set_name = Some(name.into());
        self
    }

    /// Skips writing the `FileDescriptorSet` and the `FILE_DESCRIPTOR_SET`
    /// constants.
    pub fn skip_file_descriptor_set(mut self) -> Self {
        self.file_descriptor_set_name = None;
        self
    }

    /// Whether to print `cargo:rerun-if-changed` for every `.proto` file read,
    /// imports included (default `true`).
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Self {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// Also writes a file of that name in the output directory that nests
    /// every generated package in `pub mod`s and includes it (prost-build's
    /// `include_file`).
    pub fn include_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.include_file = Some(path.into());
        self
    }

    /// Generates `google.protobuf` types instead of using `prost-types`
    /// (prost-build's `compile_well_known_types`).
    pub fn compile_well_known_types(mut self, enable: bool) -> Self {
        self.compile_well_known_types = enable;
        self
    }

    /// Uses an existing Rust type for a protobuf path (prost-build's
    /// `extern_path`), for messages generated by another crate.
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Self {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Adds an attribute to matching messages and enums (prost-build's
    /// `type_attribute`).
    pub fn type_attribute(mut self, path: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to matching messages (prost-build's
    /// `message_attribute`).
    pub fn message_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Self {
        self.message_attributes
            .push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to matching enums (prost-build's `enum_attribute`).
    pub fn enum_attribute(mut self, path: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.enum_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds an attribute to matching fields (prost-build's `field_attribute`).
    pub fn field_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Self {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Uses `bytes::Bytes` for matching `bytes` fields (prost-build's
    /// `bytes`; `"."` for all).
    pub fn bytes(mut self, path: impl Into<String>) -> Self {
        self.bytes.push(path.into());
        self
    }

    /// Uses `BTreeMap` for matching map fields (prost-build's `btree_map`).
    pub fn btree_map(mut self, path: impl Into<String>) -> Self {
        self.btree_map.push(path.into());
        self
    }

    /// Boxes matching fields (prost-build's `boxed`).
    pub fn boxed(mut self, path: impl Into<String>) -> Self {
        self.boxed.push(path.into());
        self
    }

    /// Leaves out the comments of matching items (prost-build's
    /// `disable_comments`), for comments that do not make valid rustdoc.
    pub fn disable_comments(mut self, path: impl Into<String>) -> Self {
        self.disable_comments.push(path.into());
        self
    }

    /// Compiles `protos`, looking up imports in `includes` (and the
    /// well-known `google/protobuf/*.proto` files, built into protox).
    ///
    /// # Errors
    /// Fails when a file does not parse or import, or when an output file
    /// cannot be written; the message names the file and the problem.
    pub fn compile(
        self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> io::Result<()> {
        self.compile_with_config(Config::new(), protos, includes)
    }

    /// Like [`compile`](Builder::compile), starting from a prost-build
    /// [`Config`] that has other settings made already.
    ///
    /// The builder then sets the service generator, the output directory and
    /// its own options on it.
    ///
    /// # Errors
    /// As for [`compile`](Builder::compile).
    pub fn compile_with_config(
        self,
        config: Config,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> io::Result<()> {
        self.check()?;
        let parsed = parse(protos, includes)?;
        if self.emit_rerun_if_changed {
            for path in &parsed.paths {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        self.write(config, parsed.set, &parsed.encoded)
    }

    /// Generates code for descriptors compiled elsewhere (by `protoc
    /// --include_imports --include_source_info`, say, or by protox directly).
    ///
    /// # Errors
    /// When an output file cannot be written.
    pub fn compile_fds(self, set: FileDescriptorSet) -> io::Result<()> {
        self.check()?;
        let encoded = prost::Message::encode_to_vec(&set);
        self.write(Config::new(), set, &encoded)
    }

    /// Rejects settings that would make prost-build fail to parse the
    /// generated code (it panics then, which is a poor build error).
    fn check(&self) -> io::Result<()> {
        if !is_rust_path(&self.codegen_path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "codegen_path {:?} is not a Rust path like ::ferrule::codegen",
                    self.codegen_path
                ),
            ));
        }
        Ok(())
    }

    fn out_dir_or_env(&self) -> io::Result<PathBuf> {
        match (&self.out_dir, std::env::var_os("OUT_DIR")) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, Some(dir)) => Ok(PathBuf::from(dir)),
            (None, None) => Err(io::Error::other(
                "OUT_DIR is not set: call ferrule_build from a build script, or set Builder::out_dir",
            )),
        }
    }

    fn write(self, mut config: Config, set: FileDescriptorSet, encoded: &[u8]) -> io::Result<()> {
        let out_dir = self.out_dir_or_env()?;
        fs::create_dir_all(&out_dir)?;
        if let Some(name) = &self.file_descriptor_set_name {
            write_if_changed(&out_dir.join(name), encoded)?;
        }
        config.out_dir(&out_dir);
        if let Some(include_file) = &self.include_file {
            config.include_file(include_file);
        }
        self.apply(&mut config);
        config.compile_fds(set)
    }

    /// Runs the generator without touching the disk: the generated source
    /// of each package, by file name (`bookstore.rs`).
    #[cfg(test)]
    pub(crate) fn generate_to_strings(
        self,
        format: bool,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> io::Result<std::collections::BTreeMap<String, String>> {
        use prost_build::Module;
        use std::collections::HashMap;

        self.check()?;
        let parsed = parse(protos, includes)?;
        let mut config = Config::new();
        config.format(format);
        self.apply(&mut config);
        let requests = parsed
            .set
            .file
            .into_iter()
            .map(|file| (Module::from_protobuf_package_name(file.package()), file))
            .collect::<Vec<_>>();
        let names: HashMap<Module, String> = requests
            .iter()
            .map(|(module, _)| (module.clone(), module.to_file_name_or("_")))
            .collect();
        let generated = config.generate(requests)?;
        Ok(generated
            .into_iter()
            .filter_map(|(module, source)| Some((names.get(&module)?.clone(), source)))
            .collect())
    }

    fn apply(self, config: &mut Config) {
        config.service_generator(Box::new(ServiceGenerator::new(GeneratorOptions {
            build_client: self.build_client,
            build_server: self.build_server,
            codegen_path: self.codegen_path,
            file_descriptor_set_name: self.file_descriptor_set_name,
        })));
        if self.compile_well_known_types {
            config.compile_well_known_types();
        }
        for (proto, rust) in &self.extern_paths {
            config.extern_path(proto, rust);
        }
        for (path, attribute) in &self.type_attributes {
            config.type_attribute(path, attribute);
        }
        for (path, attribute) in &self.message_attributes {
            config.message_attribute(path, attribute);
        }
        for (path, attribute) in &self.enum_attributes {
            config.enum_attribute(path, attribute);
        }
        for (path, attribute) in &self.field_attributes {
            config.field_attribute(path, attribute);
        }
        if !self.bytes.is_empty() {
            config.bytes(&self.bytes);
        }
        if !self.btree_map.is_empty() {
            config.btree_map(&self.btree_map);
        }
        for path in &self.boxed {
            config.boxed(path);
        }
        if !self.disable_comments.is_empty() {
            config.disable_comments(&self.disable_comments);
        }
    }
}

/// What protox made of the `.proto` files.
struct Parsed {
    /// Every file compiled, imports included, with source info (comments).
    set: FileDescriptorSet,
    /// `set` encoded by protox, which keeps custom options prost would drop.
    encoded: Vec<u8>,
    /// The files read from disk, for `cargo:rerun-if-changed`.
    paths: Vec<PathBuf>,
}

fn parse(protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> io::Result<Parsed> {
    let mut compiler = protox::Compiler::new(includes).map_err(protox_error)?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(protos).map_err(protox_error)?;
    Ok(Parsed {
        set: compiler.file_descriptor_set(),
        encoded: compiler.encode_file_descriptor_set(),
        paths: compiler
            .files()
            .filter_map(|file| file.path().map(Path::to_path_buf))
            .collect(),
    })
}

fn protox_error(error: protox::Error) -> io::Error {
    let message = match error.file() {
        Some(file) => format!("failed to compile protos: {file}: {error}"),
        None => format!("failed to compile protos: {error}"),
    };
    let kind = if error.is_file_not_found() {
        io::ErrorKind::NotFound
    } else {
        io::ErrorKind::InvalidInput
    };
    io::Error::new(kind, message)
}

/// Leaves an unchanged file alone so its mtime does not trigger rebuilds.
fn write_if_changed(path: &Path, content: &[u8]) -> io::Result<()> {
    if fs::read(path).is_ok_and(|existing| existing == content) {
        return Ok(());
    }
    fs::write(path, content)
}

/// `::a::b`, `a::b_2`, `crate::x`: what `codegen_path` may be.
fn is_rust_path(path: &str) -> bool {
    let relative = path.strip_prefix("::").unwrap_or(path);
    !relative.is_empty()
        && relative.split("::").all(|segment| {
            let ident = segment.strip_prefix("r#").unwrap_or(segment);
            let mut chars = ident.chars();
            chars
                .next()
                .is_some_and(|first| first == '_' || first.is_ascii_alphabetic())
                && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        })
}

//! The prost-build [`ServiceGenerator`](prost_build::ServiceGenerator) that
//! writes ferrule clients, server traits and method descriptors.
//!
//! Per service `Bookstore` in package `shop` it appends to the package's file:
//!
//! - `pub mod bookstore_methods`: a `MethodDescriptor` constant per RPC and
//!   `SERVICE_NAME`;
//! - `pub mod bookstore_client` with `BookstoreClient` (if clients are on);
//! - `pub mod bookstore_server` with the `Bookstore` trait and
//!   `BookstoreServer<T>` (if servers are on);
//!
//! and once per package `FILE_DESCRIPTOR_SET`. Everything it emits names
//! ferrule only through the configured codegen path, so the one surface the
//! generated code depends on is `ferrule_core::api::codegen`.

mod client;
mod methods;
mod names;
mod server;

use std::fmt::Write as _;

use prost_build::Service;

/// The generator's settings, filled in by the [`Builder`](crate::Builder).
#[derive(Clone, Debug)]
pub(crate) struct GeneratorOptions {
    pub(crate) build_client: bool,
    pub(crate) build_server: bool,
    pub(crate) codegen_path: String,
    /// The descriptor set file, beside the generated sources; `None` emits
    /// no `FILE_DESCRIPTOR_SET` constant.
    pub(crate) file_descriptor_set_name: Option<String>,
}

/// ferrule's [`prost_build::ServiceGenerator`].
///
/// [`Builder`](crate::Builder) installs it; it is public for build scripts
/// that drive a prost-build `Config` themselves and want only the service
/// code: `config.service_generator(Box::new(ServiceGenerator::default()))`.
/// Built that way it emits clients and servers against
/// [`DEFAULT_CODEGEN_PATH`](crate::DEFAULT_CODEGEN_PATH) and no
/// `FILE_DESCRIPTOR_SET` constant (no descriptor file is written).
#[derive(Clone, Debug)]
pub struct ServiceGenerator {
    options: GeneratorOptions,
}

impl Default for ServiceGenerator {
    fn default() -> Self {
        ServiceGenerator::new(GeneratorOptions {
            build_client: true,
            build_server: true,
            codegen_path: crate::DEFAULT_CODEGEN_PATH.to_owned(),
            file_descriptor_set_name: None,
        })
    }
}

impl ServiceGenerator {
    pub(crate) fn new(options: GeneratorOptions) -> Self {
        ServiceGenerator { options }
    }
}

impl prost_build::ServiceGenerator for ServiceGenerator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        let codegen = self.options.codegen_path.as_str();
        methods::emit(codegen, &service, buf);
        if self.options.build_client {
            client::emit(codegen, &service, buf);
        }
        if self.options.build_server {
            server::emit(codegen, &service, buf);
        }
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        let Some(name) = &self.options.file_descriptor_set_name else {
            return;
        };
        let package = if package.is_empty() {
            "the root package"
        } else {
            package
        };
        // `include_bytes!` resolves relative to the file the generated code
        // sits in, which is beside the descriptor file in the output folder,
        // whichever module includes it.
        let _ = write!(
            buf,
            "/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file compiled \
             with `{package}`, imports included, for server reflection.\n\
             pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!({name:?});\n"
        );
    }
}

#[cfg(test)]
mod tests;

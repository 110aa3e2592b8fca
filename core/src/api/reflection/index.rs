//! [`Index`]: every file, symbol and extension of the registered descriptor
//! sets, looked up by what reflection requests ask for.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;

use bytes::Bytes;
use prost::Message as _;

use super::descriptor::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    FileDescriptorSet,
};

/// Why a descriptor set given to the reflection builder cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReflectionError {
    /// The bytes are not an encoded `google.protobuf.FileDescriptorSet`.
    NotADescriptorSet {
        /// Which set, in registration order (from 0).
        set: usize,
        /// What the decoder said.
        reason: String,
    },
    /// One file of a set is not an encoded `FileDescriptorProto`.
    BadFile {
        /// Which set, in registration order (from 0).
        set: usize,
        /// Which file of the set (from 0).
        file: usize,
        /// What the decoder said.
        reason: String,
    },
    /// A file has no name, so no request could ever ask for it.
    UnnamedFile {
        /// Which set, in registration order (from 0).
        set: usize,
        /// Which file of the set (from 0).
        file: usize,
    },
}

impl fmt::Display for ReflectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReflectionError::NotADescriptorSet { set, reason } => write!(
                f,
                "descriptor set #{set} is not an encoded google.protobuf.FileDescriptorSet: {reason}"
            ),
            ReflectionError::BadFile { set, file, reason } => write!(
                f,
                "file #{file} of descriptor set #{set} is not an encoded FileDescriptorProto: {reason}"
            ),
            ReflectionError::UnnamedFile { set, file } => {
                write!(f, "file #{file} of descriptor set #{set} has no name")
            }
        }
    }
}

impl std::error::Error for ReflectionError {}

/// What a fully qualified name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SymbolKind {
    Message,
    Field,
    Oneof,
    Enum,
    EnumValue,
    Service,
    Method,
    Extension,
}

#[derive(Debug)]
struct Symbol {
    /// The file that declares it.
    file: String,
    kind: SymbolKind,
}

#[derive(Debug)]
struct File {
    /// The encoded `FileDescriptorProto`, as registered.
    encoded: Bytes,
    dependencies: Vec<String>,
}

/// Files, symbols and extensions by name. Built once; shared read-only by
/// every reflection stream.
#[derive(Debug, Default)]
pub(super) struct Index {
    files: HashMap<String, File>,
    symbols: HashMap<String, Symbol>,
    /// `(extended message, field number)` to the file declaring the
    /// extension.
    extensions: HashMap<(String, i32), String>,
    /// The extension numbers of each extended message.
    extension_numbers: HashMap<String, BTreeSet<i32>>,
    /// What `list_services` answers, sorted.
    listed_services: Vec<String>,
}

impl Index {
    /// Indexes `sets` (encoded `FileDescriptorSet`s). When a file name comes
    /// twice, the first one wins, and so for symbols.
    pub(super) fn build(sets: &[Bytes]) -> Result<Index, ReflectionError> {
        let mut index = Index::default();
        for (set_number, set) in sets.iter().enumerate() {
            let decoded = FileDescriptorSet::decode(set.clone()).map_err(|error| {
                ReflectionError::NotADescriptorSet {
                    set: set_number,
                    reason: error.to_string(),
                }
            })?;
            for (file_number, encoded) in decoded.file.into_iter().enumerate() {
                let file = FileDescriptorProto::decode(encoded.clone()).map_err(|error| {
                    ReflectionError::BadFile {
                        set: set_number,
                        file: file_number,
                        reason: error.to_string(),
                    }
                })?;
                if file.name.is_empty() {
                    return Err(ReflectionError::UnnamedFile {
                        set: set_number,
                        file: file_number,
                    });
                }
                index.add_file(file, encoded);
            }
        }
        let mut services: Vec<String> = index
            .symbols
            .iter()
            .filter(|(_, symbol)| symbol.kind == SymbolKind::Service)
            .map(|(name, _)| name.clone())
            .collect();
        services.sort();
        index.listed_services = services;
        Ok(index)
    }

    fn add_file(&mut self, file: FileDescriptorProto, encoded: Bytes) {
        if let Some(known) = self.files.get(&file.name) {
            if known.encoded != encoded {
                tracing::warn!(
                    file = file.name,
                    "two different descriptors of one file were registered; reflection serves the first"
                );
            }
            return;
        }
        let mut symbols = Vec::new();
        let mut extensions = Vec::new();
        let package = file.package.as_str();
        for message in &file.message_type {
            collect_message(package, message, &mut symbols, &mut extensions);
        }
        for enumeration in &file.enum_type {
            collect_enum(package, enumeration, &mut symbols);
        }
        for service in &file.service {
            let name = qualify(package, &service.name);
            for method in &service.method {
                symbols.push((qualify(&name, &method.name), SymbolKind::Method));
            }
            symbols.push((name, SymbolKind::Service));
        }
        for extension in &file.extension {
            collect_extension(package, extension, &mut symbols, &mut extensions);
        }
        for (name, kind) in symbols {
            self.symbols.entry(name).or_insert_with(|| Symbol {
                file: file.name.clone(),
                kind,
            });
        }
        for (extendee, number) in extensions {
            self.extension_numbers
                .entry(extendee.clone())
                .or_default()
                .insert(number);
            self.extensions
                .entry((extendee, number))
                .or_insert_with(|| file.name.clone());
        }
        self.files.insert(
            file.name,
            File {
                encoded,
                dependencies: file.dependency,
            },
        );
    }

    /// Replaces what `list_services` answers.
    pub(super) fn set_listed_services(&mut self, mut services: Vec<String>) {
        services.sort();
        services.dedup();
        self.listed_services = services;
    }

    pub(super) fn listed_services(&self) -> &[String] {
        &self.listed_services
    }

    /// Whether a file of that name is indexed.
    pub(super) fn has_file(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// The file that declares `symbol` (`package.Message`, `package.Service.Method`, ...).
    pub(super) fn file_of_symbol(&self, symbol: &str) -> Option<(&str, SymbolKind)> {
        self.symbols
            .get(symbol)
            .map(|found| (found.file.as_str(), found.kind))
    }

    /// The file that declares extension `number` of `extendee`.
    pub(super) fn file_of_extension(&self, extendee: &str, number: i32) -> Option<&str> {
        self.extensions
            .get(&(extendee.to_owned(), number))
            .map(String::as_str)
    }

    /// The extension numbers of a message type, ascending: `None` when the
    /// type is unknown and has no known extension.
    pub(super) fn extension_numbers(&self, extendee: &str) -> Option<Vec<i32>> {
        match self.extension_numbers.get(extendee) {
            Some(numbers) => Some(numbers.iter().copied().collect()),
            None => match self.symbols.get(extendee) {
                Some(symbol) if symbol.kind == SymbolKind::Message => Some(Vec::new()),
                _ => None,
            },
        }
    }

    /// The encoded file `name`, then its transitive dependencies (breadth
    /// first) that are not in `sent`; every file returned is added to `sent`.
    /// The file asked for is always returned, even if sent before (as
    /// grpc-go does): a client that asks again wants it. Dependencies that
    /// are not indexed are skipped.
    pub(super) fn file_with_dependencies(
        &self,
        name: &str,
        sent: &mut HashSet<String>,
    ) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut visited = HashSet::new();
        let mut queue = VecDeque::from([name]);
        while let Some(next) = queue.pop_front() {
            let Some(file) = self.files.get(next) else {
                continue;
            };
            if !visited.insert(next) {
                continue;
            }
            let first = out.is_empty();
            if sent.insert(next.to_owned()) || first {
                out.push(file.encoded.clone());
            }
            queue.extend(file.dependencies.iter().map(String::as_str));
        }
        out
    }
}

/// `scope.name`, or `name` in the root scope.
fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

fn collect_message(
    scope: &str,
    message: &DescriptorProto,
    symbols: &mut Vec<(String, SymbolKind)>,
    extensions: &mut Vec<(String, i32)>,
) {
    let name = qualify(scope, &message.name);
    for field in &message.field {
        symbols.push((qualify(&name, &field.name), SymbolKind::Field));
    }
    for oneof in &message.oneof_decl {
        symbols.push((qualify(&name, &oneof.name), SymbolKind::Oneof));
    }
    for nested in &message.nested_type {
        collect_message(&name, nested, symbols, extensions);
    }
    for enumeration in &message.enum_type {
        collect_enum(&name, enumeration, symbols);
    }
    for extension in &message.extension {
        collect_extension(&name, extension, symbols, extensions);
    }
    symbols.push((name, SymbolKind::Message));
}

/// An enum and its values; the values live in the enum's scope, not inside
/// the enum (protobuf's C++ scoping rule: `package.VALUE`).
fn collect_enum(
    scope: &str,
    enumeration: &EnumDescriptorProto,
    symbols: &mut Vec<(String, SymbolKind)>,
) {
    for value in &enumeration.value {
        symbols.push((qualify(scope, &value.name), SymbolKind::EnumValue));
    }
    symbols.push((qualify(scope, &enumeration.name), SymbolKind::Enum));
}

fn collect_extension(
    scope: &str,
    extension: &FieldDescriptorProto,
    symbols: &mut Vec<(String, SymbolKind)>,
    extensions: &mut Vec<(String, i32)>,
) {
    symbols.push((qualify(scope, &extension.name), SymbolKind::Extension));
    let extendee = extension
        .extendee
        .strip_prefix('.')
        .unwrap_or(&extension.extendee);
    if !extendee.is_empty() {
        extensions.push((extendee.to_owned(), extension.number));
    }
}

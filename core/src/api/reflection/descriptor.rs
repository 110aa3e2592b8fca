//! The parts of `google/protobuf/descriptor.proto` the index reads: names,
//! imports and extension numbers. prost skips every other field, so decoding
//! stays cheap however much a file carries (source info, options); the
//! responses send the original bytes, never a re-encoding.

use bytes::Bytes;

/// `google.protobuf.FileDescriptorSet`, each file kept as its encoded bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct FileDescriptorSet {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub(super) file: Vec<Bytes>,
}

/// `google.protobuf.FileDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct FileDescriptorProto {
    #[prost(string, tag = "1")]
    pub(super) name: String,
    #[prost(string, tag = "2")]
    pub(super) package: String,
    #[prost(string, repeated, tag = "3")]
    pub(super) dependency: Vec<String>,
    #[prost(message, repeated, tag = "4")]
    pub(super) message_type: Vec<DescriptorProto>,
    #[prost(message, repeated, tag = "5")]
    pub(super) enum_type: Vec<EnumDescriptorProto>,
    #[prost(message, repeated, tag = "6")]
    pub(super) service: Vec<ServiceDescriptorProto>,
    #[prost(message, repeated, tag = "7")]
    pub(super) extension: Vec<FieldDescriptorProto>,
}

/// `google.protobuf.DescriptorProto`: a message type.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct DescriptorProto {
    #[prost(string, tag = "1")]
    pub(super) name: String,
    #[prost(message, repeated, tag = "2")]
    pub(super) field: Vec<FieldDescriptorProto>,
    #[prost(message, repeated, tag = "3")]
    pub(super) nested_type: Vec<DescriptorProto>,
    #[prost(message, repeated, tag = "4")]
    pub(super) enum_type: Vec<EnumDescriptorProto>,
    #[prost(message, repeated, tag = "6")]
    pub(super) extension: Vec<FieldDescriptorProto>,
    #[prost(message, repeated, tag = "8")]
    pub(super) oneof_decl: Vec<NamedDescriptor>,
}

/// `google.protobuf.FieldDescriptorProto`: a field or an extension.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct FieldDescriptorProto {
    #[prost(string, tag = "1")]
    pub(super) name: String,
    /// The extended message, for an extension (`.package.Message` once
    /// resolved).
    #[prost(string, tag = "2")]
    pub(super) extendee: String,
    #[prost(int32, tag = "3")]
    pub(super) number: i32,
}

/// `google.protobuf.EnumDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct EnumDescriptorProto {
    #[prost(string, tag = "1")]
    pub(super) name: String,
    #[prost(message, repeated, tag = "2")]
    pub(super) value: Vec<NamedDescriptor>,
}

/// `google.protobuf.ServiceDescriptorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ServiceDescriptorProto {
    #[prost(string, tag = "1")]
    pub(super) name: String,
    #[prost(message, repeated, tag = "2")]
    pub(super) method: Vec<NamedDescriptor>,
}

/// Any descriptor read for its name only (methods, enum values, oneofs:
/// field 1 is the name in each).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct NamedDescriptor {
    #[prost(string, tag = "1")]
    pub(super) name: String,
}

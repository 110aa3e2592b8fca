//! Every request kind against descriptor sets built here, answered by a
//! [`Session`] (what one stream runs); the socket-level tests over v1 and
//! v1alpha are in the facade's `tests/standard_services.rs`.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;
use quickcheck_macros::quickcheck;

use super::descriptor::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    FileDescriptorSet, NamedDescriptor, ServiceDescriptorProto,
};
use super::index::Index;
use super::service::Session;
use super::v1::server_reflection_request::MessageRequest;
use super::v1::server_reflection_response::MessageResponse;
use super::v1::{ExtensionRequest, ServerReflectionRequest};
use super::*;
use crate::Code;
use crate::api::codegen::{Routes, Service};

fn named(name: &str) -> NamedDescriptor {
    NamedDescriptor { name: name.into() }
}

fn field(name: &str, number: i32) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: name.into(),
        extendee: String::new(),
        number,
    }
}

fn extension(name: &str, extendee: &str, number: i32) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: name.into(),
        extendee: extendee.into(),
        number,
    }
}

fn message(name: &str) -> DescriptorProto {
    DescriptorProto {
        name: name.into(),
        field: Vec::new(),
        nested_type: Vec::new(),
        enum_type: Vec::new(),
        extension: Vec::new(),
        oneof_decl: Vec::new(),
    }
}

fn file(name: &str, package: &str, dependency: &[&str]) -> FileDescriptorProto {
    FileDescriptorProto {
        name: name.into(),
        package: package.into(),
        dependency: dependency.iter().map(|d| (*d).to_owned()).collect(),
        message_type: Vec::new(),
        enum_type: Vec::new(),
        service: Vec::new(),
        extension: Vec::new(),
    }
}

/// Four files: `shop/v1/ext.proto` imports `shop/v1/shop.proto`, which
/// imports `shop/common.proto`; `lonely.proto` (no package) imports a file
/// nobody registered.
fn shop_files() -> Vec<FileDescriptorProto> {
    let mut common = file("shop/common.proto", "shop.common", &[]);
    common.message_type.push(DescriptorProto {
        field: vec![field("units", 1)],
        ..message("Money")
    });
    common.enum_type.push(EnumDescriptorProto {
        name: "Currency".into(),
        value: vec![named("EUR"), named("USD")],
    });

    let mut shop = file("shop/v1/shop.proto", "shop.v1", &["shop/common.proto"]);
    shop.message_type.push(DescriptorProto {
        field: vec![field("id", 1), field("price", 2), field("title", 3)],
        nested_type: vec![DescriptorProto {
            field: vec![field("year", 1)],
            ..message("Edition")
        }],
        enum_type: vec![EnumDescriptorProto {
            name: "Format".into(),
            value: vec![named("PAPER"), named("EBOOK")],
        }],
        oneof_decl: vec![named("kind")],
        ..message("Book")
    });
    shop.service.push(ServiceDescriptorProto {
        name: "Bookstore".into(),
        method: vec![named("GetBook"), named("ListBooks")],
    });
    shop.service.push(ServiceDescriptorProto {
        name: "Admin".into(),
        method: vec![named("Restock")],
    });

    let mut ext = file(
        "shop/v1/ext.proto",
        "shop.ext",
        &["shop/v1/shop.proto", "shop/common.proto"],
    );
    ext.extension.push(extension("isbn", ".shop.v1.Book", 100));
    ext.message_type.push(DescriptorProto {
        extension: vec![extension("pages", ".shop.v1.Book", 101)],
        ..message("Holder")
    });

    let mut lonely = file("lonely.proto", "", &["missing.proto"]);
    lonely.message_type.push(message("Lonely"));
    vec![common, shop, ext, lonely]
}

fn encode_set(files: &[FileDescriptorProto]) -> Bytes {
    FileDescriptorSet {
        file: files
            .iter()
            .map(|f| Bytes::from(f.encode_to_vec()))
            .collect(),
    }
    .encode_to_vec()
    .into()
}

fn shop_service() -> ReflectionService {
    ReflectionBuilder::new()
        .register_encoded_file_descriptor_set(encode_set(&shop_files()))
        .build()
        .unwrap()
}

fn session() -> Session {
    Session::new(Arc::new(
        Index::build(&[
            encode_set(&shop_files()),
            Bytes::from_static(v1::FILE_DESCRIPTOR_SET),
            Bytes::from_static(v1alpha::FILE_DESCRIPTOR_SET),
        ])
        .unwrap(),
    ))
}

fn ask(session: &mut Session, question: MessageRequest) -> MessageResponse {
    let request = ServerReflectionRequest {
        host: "localhost:50051".into(),
        message_request: Some(question),
    };
    let response = session.answer(request.clone()).unwrap();
    assert_eq!(response.valid_host, "localhost:50051");
    assert_eq!(response.original_request.as_ref(), Some(&request));
    response.message_response.unwrap()
}

/// The names of the files in a file response, or the error code.
fn files_of(response: MessageResponse) -> Result<Vec<String>, Code> {
    match response {
        MessageResponse::FileDescriptorResponse(files) => Ok(files
            .file_descriptor_proto
            .into_iter()
            .map(|bytes| FileDescriptorProto::decode(bytes).unwrap().name)
            .collect()),
        MessageResponse::ErrorResponse(error) => {
            assert!(!error.error_message.is_empty());
            Err(Code::from_i32(error.error_code))
        }
        other => panic!("not a file response: {other:?}"),
    }
}

fn by_symbol(session: &mut Session, symbol: &str) -> Result<Vec<String>, Code> {
    files_of(ask(
        session,
        MessageRequest::FileContainingSymbol(symbol.into()),
    ))
}

#[test]
fn list_services_names_every_service_and_reflection_itself() {
    let mut session = session();
    let MessageResponse::ListServicesResponse(list) =
        ask(&mut session, MessageRequest::ListServices(String::new()))
    else {
        panic!("not a service list");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "shop.v1.Admin",
            "shop.v1.Bookstore",
        ]
    );
    assert_eq!(shop_service().services(), names);
}

#[test]
fn the_builder_can_restrict_the_list_and_leave_reflection_out() {
    let set = encode_set(&shop_files());
    let only_bookstore = ReflectionBuilder::new()
        .register_encoded_file_descriptor_set(set.clone())
        .with_service_name("shop.v1.Bookstore")
        .build()
        .unwrap();
    assert_eq!(
        only_bookstore.services(),
        [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "shop.v1.Bookstore",
        ]
    );
    let without_reflection = ReflectionBuilder::new()
        .register_encoded_file_descriptor_set(set)
        .include_reflection_service(false)
        .build()
        .unwrap();
    assert_eq!(
        without_reflection.services(),
        ["shop.v1.Admin", "shop.v1.Bookstore"]
    );
    let empty = ReflectionBuilder::new()
        .include_reflection_service(false)
        .build()
        .unwrap();
    assert!(empty.services().is_empty());
}

#[test]
fn file_by_filename_sends_the_file_then_unsent_dependencies() {
    let mut session = session();
    let by_name = |session: &mut Session, name: &str| {
        files_of(ask(session, MessageRequest::FileByFilename(name.into())))
    };
    assert_eq!(
        by_name(&mut session, "shop/v1/ext.proto"),
        Ok(vec![
            "shop/v1/ext.proto".into(),
            "shop/v1/shop.proto".into(),
            "shop/common.proto".into(),
        ])
    );
    // Asked again: the file itself comes again, its dependencies do not.
    assert_eq!(
        by_name(&mut session, "shop/v1/ext.proto"),
        Ok(vec!["shop/v1/ext.proto".into()])
    );
    assert_eq!(
        by_name(&mut session, "shop/common.proto"),
        Ok(vec!["shop/common.proto".into()])
    );
    // A dependency nobody registered is skipped.
    assert_eq!(
        by_name(&mut session, "lonely.proto"),
        Ok(vec!["lonely.proto".into()])
    );
    for unknown in [
        "missing.proto",
        "shop/v1/Shop.proto",
        "",
        "/shop/common.proto",
    ] {
        assert_eq!(
            by_name(&mut session, unknown),
            Err(Code::NOT_FOUND),
            "{unknown:?}"
        );
    }
    // A new stream starts over.
    let mut fresh = self::session();
    assert_eq!(
        by_name(&mut fresh, "shop/v1/shop.proto"),
        Ok(vec![
            "shop/v1/shop.proto".into(),
            "shop/common.proto".into()
        ])
    );
}

#[test]
fn the_files_sent_are_the_registered_bytes() {
    let files = shop_files();
    let mut session = session();
    let MessageResponse::FileDescriptorResponse(response) = ask(
        &mut session,
        MessageRequest::FileByFilename("shop/common.proto".into()),
    ) else {
        panic!("not a file response");
    };
    assert_eq!(
        response.file_descriptor_proto,
        [Bytes::from(files[0].encode_to_vec())]
    );
}

#[test]
fn file_containing_symbol_finds_every_kind_of_symbol() {
    const SHOP: &str = "shop/v1/shop.proto";
    let cases: &[(&str, Result<&str, Code>)] = &[
        ("shop.v1.Bookstore", Ok(SHOP)),
        ("shop.v1.Bookstore.GetBook", Ok(SHOP)),
        ("shop.v1.Admin.Restock", Ok(SHOP)),
        ("shop.v1.Book", Ok(SHOP)),
        (".shop.v1.Book", Ok(SHOP)),
        ("shop.v1.Book.price", Ok(SHOP)),
        ("shop.v1.Book.kind", Ok(SHOP)),
        ("shop.v1.Book.Edition", Ok(SHOP)),
        ("shop.v1.Book.Edition.year", Ok(SHOP)),
        ("shop.v1.Book.Format", Ok(SHOP)),
        // Enum values live beside their enum.
        ("shop.v1.Book.EBOOK", Ok(SHOP)),
        ("shop.common.Money", Ok("shop/common.proto")),
        ("shop.common.Money.units", Ok("shop/common.proto")),
        ("shop.common.Currency", Ok("shop/common.proto")),
        ("shop.common.USD", Ok("shop/common.proto")),
        ("shop.ext.isbn", Ok("shop/v1/ext.proto")),
        ("shop.ext.Holder.pages", Ok("shop/v1/ext.proto")),
        ("Lonely", Ok("lonely.proto")),
        (
            "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo",
            Ok("grpc/reflection/v1alpha/reflection.proto"),
        ),
        (
            "grpc.reflection.v1.ServerReflectionRequest.file_by_filename",
            Ok("grpc/reflection/v1/reflection.proto"),
        ),
        ("shop.v1.Book.Format.EBOOK", Err(Code::NOT_FOUND)),
        ("shop.v1.Nope", Err(Code::NOT_FOUND)),
        ("shop.v1", Err(Code::NOT_FOUND)),
        ("shop", Err(Code::NOT_FOUND)),
        ("shop.v1.bookstore", Err(Code::NOT_FOUND)),
        ("", Err(Code::NOT_FOUND)),
    ];
    for (symbol, want) in cases {
        // A fresh session per symbol: the first file is the declaring one.
        let got = by_symbol(&mut session(), symbol).map(|files| files[0].clone());
        assert_eq!(got, want.map(str::to_owned), "{symbol:?}");
    }
}

#[test]
fn file_containing_extension_finds_top_level_and_nested_extensions() {
    let mut session = session();
    let mut by_extension = |containing_type: &str, number: i32| {
        files_of(ask(
            &mut session,
            MessageRequest::FileContainingExtension(ExtensionRequest {
                containing_type: containing_type.into(),
                extension_number: number,
            }),
        ))
    };
    assert_eq!(
        by_extension("shop.v1.Book", 100),
        Ok(vec![
            "shop/v1/ext.proto".into(),
            "shop/v1/shop.proto".into(),
            "shop/common.proto".into(),
        ])
    );
    assert_eq!(
        by_extension(".shop.v1.Book", 101),
        Ok(vec!["shop/v1/ext.proto".into()])
    );
    for (containing_type, number) in [
        ("shop.v1.Book", 102),
        ("shop.v1.Book", -1),
        ("shop.common.Money", 100),
        ("", 0),
    ] {
        assert_eq!(
            by_extension(containing_type, number),
            Err(Code::NOT_FOUND),
            "{containing_type:?} {number}"
        );
    }
}

#[test]
fn all_extension_numbers_of_type_lists_them_ascending() {
    let mut session = session();
    let mut numbers = |name: &str| match ask(
        &mut session,
        MessageRequest::AllExtensionNumbersOfType(name.into()),
    ) {
        MessageResponse::AllExtensionNumbersResponse(response) => {
            assert_eq!(response.base_type_name, name);
            Ok(response.extension_number)
        }
        MessageResponse::ErrorResponse(error) => Err(Code::from_i32(error.error_code)),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(numbers("shop.v1.Book"), Ok(vec![100, 101]));
    assert_eq!(numbers(".shop.v1.Book"), Ok(vec![100, 101]));
    assert_eq!(numbers("shop.common.Money"), Ok(vec![]));
    assert_eq!(numbers("shop.v1.Book.Edition"), Ok(vec![]));
    // Known names that are not message types, and unknown names.
    for name in [
        "shop.v1.Bookstore",
        "shop.common.Currency",
        "shop.v1.Nope",
        "",
    ] {
        assert_eq!(numbers(name), Err(Code::NOT_FOUND), "{name:?}");
    }
}

#[test]
fn a_request_that_asks_nothing_ends_the_call_invalid_argument() {
    let mut session = session();
    let status = session
        .answer(ServerReflectionRequest {
            host: String::new(),
            message_request: None,
        })
        .unwrap_err();
    assert_eq!(status.code(), Code::INVALID_ARGUMENT);
}

#[test]
fn bad_descriptor_sets_are_refused_with_a_clear_error() {
    let unnamed = encode_set(&[file("", "x", &[])]);
    let bad_file = FileDescriptorSet {
        file: vec![Bytes::from_static(b"\x0a\xff")],
    }
    .encode_to_vec();
    let cases: [(Bytes, ReflectionError, &str); 3] = [
        (
            Bytes::from_static(b"\x0a\x05ab"),
            ReflectionError::NotADescriptorSet {
                set: 0,
                reason: String::new(),
            },
            "descriptor set #0 is not an encoded google.protobuf.FileDescriptorSet",
        ),
        (
            bad_file.into(),
            ReflectionError::BadFile {
                set: 0,
                file: 0,
                reason: String::new(),
            },
            "file #0 of descriptor set #0 is not an encoded FileDescriptorProto",
        ),
        (
            unnamed,
            ReflectionError::UnnamedFile { set: 0, file: 0 },
            "file #0 of descriptor set #0 has no name",
        ),
    ];
    for (set, want, message) in cases {
        let error = ReflectionBuilder::new()
            .register_encoded_file_descriptor_set(set)
            .build()
            .unwrap_err();
        let same_kind = matches!(
            (&error, &want),
            (
                ReflectionError::NotADescriptorSet { .. },
                ReflectionError::NotADescriptorSet { .. }
            ) | (
                ReflectionError::BadFile { .. },
                ReflectionError::BadFile { .. }
            ) | (
                ReflectionError::UnnamedFile { .. },
                ReflectionError::UnnamedFile { .. }
            )
        );
        assert!(same_kind, "{error:?} is not like {want:?}");
        assert!(error.to_string().starts_with(message), "{error}");
    }
    // A truncated set is refused, never half indexed.
    let whole = encode_set(&shop_files());
    for cut in [1, whole.len() / 2, whole.len() - 1] {
        assert!(
            ReflectionBuilder::new()
                .register_encoded_file_descriptor_set(whole.slice(..cut))
                .build()
                .is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn a_file_registered_twice_is_served_once_the_first_way() {
    let files = shop_files();
    let mut changed = files.clone();
    changed[0].message_type.push(message("Extra"));
    let service = ReflectionBuilder::new()
        .register_encoded_file_descriptor_set(encode_set(&files))
        .register_encoded_file_descriptor_set(encode_set(&changed))
        .build();
    assert!(service.is_ok());
    let index = Index::build(&[encode_set(&files), encode_set(&changed)]).unwrap();
    let mut session = Session::new(Arc::new(index));
    assert_eq!(
        by_symbol(&mut session, "shop.common.Extra"),
        Err(Code::NOT_FOUND)
    );
    assert_eq!(
        by_symbol(&mut session, "shop.common.Money"),
        Ok(vec!["shop/common.proto".into()])
    );
}

#[test]
fn the_service_serves_v1_and_v1alpha() {
    let mut routes = Routes::default();
    shop_service().register(&mut routes);
    assert_eq!(routes.len(), 2);
    assert!(
        routes
            .get("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
            .is_some()
    );
    assert!(
        routes
            .get("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
            .is_some()
    );
}

/// A request sequence over the registered files (and one unknown name).
#[derive(Clone, Debug)]
struct FileRequests(Vec<u8>);

impl quickcheck::Arbitrary for FileRequests {
    fn arbitrary(g: &mut quickcheck::Gen) -> Self {
        FileRequests(Vec::arbitrary(g))
    }
}

/// Whatever files a stream asks for, in any order: each answer starts with
/// the file asked for, no file goes twice except when asked for again, and
/// the client ends up holding every dependency of every file it got.
#[quickcheck]
fn a_session_sends_each_dependency_once_and_never_leaves_one_out(requests: FileRequests) {
    const NAMES: [&str; 5] = [
        "shop/common.proto",
        "shop/v1/shop.proto",
        "shop/v1/ext.proto",
        "lonely.proto",
        "missing.proto",
    ];
    let files = shop_files();
    let mut session = session();
    let mut held: Vec<String> = Vec::new();
    for pick in requests.0 {
        let name = NAMES[usize::from(pick) % NAMES.len()];
        let got = files_of(ask(
            &mut session,
            MessageRequest::FileByFilename(name.into()),
        ));
        if name == "missing.proto" {
            assert_eq!(got, Err(Code::NOT_FOUND));
            continue;
        }
        let got = got.unwrap();
        assert_eq!(got[0], name);
        for dependency in &got[1..] {
            assert!(
                !held.contains(dependency),
                "{dependency} was sent twice without being asked for"
            );
        }
        let unique: HashSet<&String> = got.iter().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "one answer repeats a file: {got:?}"
        );
        held.extend(got);
        for file in &files {
            if held.contains(&file.name) {
                for dependency in &file.dependency {
                    assert!(
                        held.contains(dependency) || dependency == "missing.proto",
                        "{} is held without its dependency {dependency}",
                        file.name
                    );
                }
            }
        }
    }
}

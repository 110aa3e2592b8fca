//! [`ReflectionBuilder`] and [`ReflectionService`]: requests in, answers out,
//! one [`Session`] per stream.

use std::collections::HashSet;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::api::codegen::{ProstCodec, Routes, Service, streaming_handler};
use crate::api::{Request, Response, Streaming};
use crate::{Code, Status};

use super::index::{Index, ReflectionError};
use super::v1::server_reflection_request::MessageRequest;
use super::v1::server_reflection_response::MessageResponse;
use super::v1::server_reflection_server::{ServerReflection, ServerReflectionServer};
use super::v1::{
    ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse, ListServiceResponse,
    ServerReflectionRequest, ServerReflectionResponse, ServiceResponse,
};
use super::{SERVICE_NAME_V1, SERVICE_NAME_V1ALPHA, v1, v1alpha};

/// Chooses what the reflection service knows, then
/// [`build`](Self::build)s it.
#[derive(Clone, Debug)]
#[must_use = "a ReflectionBuilder does nothing until build() is called"]
pub struct ReflectionBuilder {
    sets: Vec<Bytes>,
    service_names: Vec<String>,
    include_reflection_service: bool,
}

impl Default for ReflectionBuilder {
    fn default() -> Self {
        ReflectionBuilder::new()
    }
}

impl ReflectionBuilder {
    /// A builder that knows only the reflection service itself.
    pub fn new() -> ReflectionBuilder {
        ReflectionBuilder {
            sets: Vec::new(),
            service_names: Vec::new(),
            include_reflection_service: true,
        }
    }

    /// Adds the files of an encoded `google.protobuf.FileDescriptorSet`
    /// (ferrule-build's `FILE_DESCRIPTOR_SET`, or `protoc
    /// --descriptor_set_out --include_imports`). Dependencies should be in
    /// some registered set: a response carries the ones it finds.
    pub fn register_encoded_file_descriptor_set(mut self, set: impl Into<Bytes>) -> Self {
        self.sets.push(set.into());
        self
    }

    /// Lists only the services named this way (plus the reflection service
    /// itself, unless turned off) in `list_services` answers; by default
    /// every service of the registered files is listed. The other lookups
    /// still see every registered file.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_names.push(name.into());
        self
    }

    /// Whether the reflection service describes itself (its files and its
    /// two service names); on by default, as in grpc-go.
    pub fn include_reflection_service(mut self, include: bool) -> Self {
        self.include_reflection_service = include;
        self
    }

    /// Indexes the registered files.
    ///
    /// # Errors
    /// When a registered set, or a file in it, does not decode, or a file has
    /// no name; the error says which.
    pub fn build(self) -> Result<ReflectionService, ReflectionError> {
        let mut sets = self.sets;
        if self.include_reflection_service {
            sets.push(Bytes::from_static(v1::FILE_DESCRIPTOR_SET));
            sets.push(Bytes::from_static(v1alpha::FILE_DESCRIPTOR_SET));
        }
        let mut index = Index::build(&sets)?;
        if !self.service_names.is_empty() {
            let mut listed = self.service_names;
            if self.include_reflection_service {
                listed.push(SERVICE_NAME_V1.to_owned());
                listed.push(SERVICE_NAME_V1ALPHA.to_owned());
            }
            index.set_listed_services(listed);
        }
        Ok(ReflectionService {
            index: Arc::new(index),
        })
    }
}

/// The reflection service, v1 and v1alpha: add it to a router with
/// `Router::add_service`. Made by [`ReflectionBuilder::build`]; cheap to
/// clone.
#[derive(Clone)]
pub struct ReflectionService {
    index: Arc<Index>,
}

impl ReflectionService {
    /// The services `list_services` answers, sorted.
    pub fn services(&self) -> &[String] {
        self.index.listed_services()
    }
}

impl fmt::Debug for ReflectionService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReflectionService")
            .field("services", &self.index.listed_services())
            .finish_non_exhaustive()
    }
}

impl Service for ReflectionService {
    const NAME: &'static str = SERVICE_NAME_V1;

    fn register(self, routes: &mut Routes) {
        let handlers = Arc::new(Handlers { index: self.index });
        // v1alpha: the same handler and messages under the old path.
        routes.add(
            &v1alpha::server_reflection_methods::SERVER_REFLECTION_INFO,
            streaming_handler(
                Arc::clone(&handlers),
                |handlers: Arc<Handlers>, request| async move {
                    handlers.server_reflection_info(request).await
                },
                ProstCodec::<ServerReflectionResponse, ServerReflectionRequest>::new(),
            ),
        );
        ServerReflectionServer::from_arc(handlers).register(routes);
    }
}

struct Handlers {
    index: Arc<Index>,
}

impl ServerReflection for Handlers {
    type ServerReflectionInfoStream = ReflectionStream;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<ServerReflectionRequest>>,
    ) -> Result<Response<ReflectionStream>, Status> {
        Ok(Response::new(ReflectionStream {
            requests: request.into_inner(),
            session: Session::new(Arc::clone(&self.index)),
            done: false,
        }))
    }
}

/// The responses of one reflection call: one per request, in order.
pub struct ReflectionStream {
    requests: Streaming<ServerReflectionRequest>,
    session: Session,
    done: bool,
}

impl Stream for ReflectionStream {
    type Item = Result<ServerReflectionResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let answer = match std::task::ready!(Pin::new(&mut this.requests).poll_next(cx)) {
            None => None,
            Some(Ok(request)) => Some(this.session.answer(request)),
            Some(Err(status)) => Some(Err(status)),
        };
        if !matches!(answer, Some(Ok(_))) {
            this.done = true;
        }
        Poll::Ready(answer)
    }
}

impl fmt::Debug for ReflectionStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReflectionStream")
            .field("files_sent", &self.session.sent.len())
            .field("done", &self.done)
            .finish()
    }
}

/// One stream's state: the files it has sent, so dependencies go once.
pub(super) struct Session {
    index: Arc<Index>,
    sent: HashSet<String>,
}

impl Session {
    pub(super) fn new(index: Arc<Index>) -> Session {
        Session {
            index,
            sent: HashSet::new(),
        }
    }

    /// The answer to one request: a response (possibly an
    /// `error_response`), or the status that ends the call for a request
    /// that asks nothing.
    pub(super) fn answer(
        &mut self,
        request: ServerReflectionRequest,
    ) -> Result<ServerReflectionResponse, Status> {
        let Some(question) = &request.message_request else {
            return Err(Status::invalid_argument(
                "the reflection request sets none of file_by_filename, file_containing_symbol, \
                 file_containing_extension, all_extension_numbers_of_type, list_services",
            ));
        };
        let response = match question {
            MessageRequest::FileByFilename(name) => {
                if self.index.has_file(name) {
                    self.files(name.clone())
                } else {
                    not_found(format!("file not found: {name:?}"))
                }
            }
            MessageRequest::FileContainingSymbol(symbol) => {
                // Some clients write a fully qualified name with the leading dot.
                let symbol = symbol.strip_prefix('.').unwrap_or(symbol);
                match self.index.file_of_symbol(symbol) {
                    Some((file, _)) => self.files(file.to_owned()),
                    None => not_found(format!("symbol not found: {symbol:?}")),
                }
            }
            MessageRequest::FileContainingExtension(extension) => {
                let extendee = extension.containing_type.as_str();
                let extendee = extendee.strip_prefix('.').unwrap_or(extendee);
                match self
                    .index
                    .file_of_extension(extendee, extension.extension_number)
                {
                    Some(file) => self.files(file.to_owned()),
                    None => not_found(format!(
                        "no extension {} of {extendee:?} is known",
                        extension.extension_number
                    )),
                }
            }
            MessageRequest::AllExtensionNumbersOfType(extendee) => {
                let name = extendee.strip_prefix('.').unwrap_or(extendee);
                match self.index.extension_numbers(name) {
                    Some(numbers) => {
                        MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                            base_type_name: extendee.clone(),
                            extension_number: numbers,
                        })
                    }
                    None => not_found(format!("type not found: {name:?}")),
                }
            }
            MessageRequest::ListServices(_) => {
                MessageResponse::ListServicesResponse(ListServiceResponse {
                    service: self
                        .index
                        .listed_services()
                        .iter()
                        .map(|name| ServiceResponse { name: name.clone() })
                        .collect(),
                })
            }
        };
        Ok(ServerReflectionResponse {
            valid_host: request.host.clone(),
            original_request: Some(request),
            message_response: Some(response),
        })
    }

    fn files(&mut self, name: String) -> MessageResponse {
        MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
            file_descriptor_proto: self.index.file_with_dependencies(&name, &mut self.sent),
        })
    }
}

fn not_found(message: String) -> MessageResponse {
    MessageResponse::ErrorResponse(ErrorResponse {
        error_code: Code::NOT_FOUND.as_i32(),
        error_message: message,
    })
}

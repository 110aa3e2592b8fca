//! [`ErrorDetails`]: the standard error details of one status, built and read
//! as typed messages.

use super::DetailsError;
use super::messages::{
    BadRequest, DebugInfo, ErrorInfo, FieldViolation, Help, HelpLink, LocalizedMessage,
    PreconditionFailure, PreconditionViolation, QuotaFailure, QuotaViolation, RequestInfo,
    ResourceInfo, RetryInfo,
};
use crate::status::{Any, Code, RpcStatus, Status};
use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

/// The error details of a status: at most one of each standard message of
/// `google/rpc/error_details.proto` (AIP-193 asks for no more), plus any
/// other packed messages as they came.
///
/// Build one with [`ErrorDetails::new`] and the `with_*` methods and send it
/// with [`Status::with_error_details`]; read one with
/// [`Status::error_details`].
///
/// ```
/// use core::time::Duration;
/// use ferrule_codec::status::details::{ErrorDetails, FieldViolation};
/// use ferrule_codec::{Code, Status};
///
/// let details = ErrorDetails::new()
///     .with_bad_request([FieldViolation::new("name", "must not be empty")])
///     .with_error_info("EMPTY_NAME", "example.com", [("field", "name")])
///     .with_retry_info(Duration::from_secs(2));
/// let status = Status::with_error_details(Code::INVALID_ARGUMENT, "bad name", details);
///
/// let details = status.error_details().expect("details we just encoded");
/// let bad_request = details.bad_request().expect("a BadRequest");
/// assert_eq!(bad_request.field_violations[0].field, "name");
/// assert_eq!(details.error_info().map(|info| info.reason.as_str()), Some("EMPTY_NAME"));
/// assert_eq!(details.retry_info().and_then(|info| info.delay()), Some(Duration::from_secs(2)));
/// ```
///
/// # Encoding and decoding
/// The standard messages are packed in the order the proto declares them,
/// with type URLs `type.googleapis.com/google.rpc.<Name>`, followed by
/// [`ErrorDetails::other`] in order. Decoding recognizes a standard message by
/// the full name after the type URL's last `/` (any host is accepted, as
/// `Any` specifies): the first of each type fills its slot, and any later one
/// is checked and then kept in `other`, so nothing the peer sent is lost and
/// decoding what encoding produced gives the same value back. A standard
/// message placed in `other` by hand comes back in its slot if the slot is
/// empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    error_info: Option<ErrorInfo>,
    retry_info: Option<RetryInfo>,
    debug_info: Option<DebugInfo>,
    quota_failure: Option<QuotaFailure>,
    precondition_failure: Option<PreconditionFailure>,
    bad_request: Option<BadRequest>,
    request_info: Option<RequestInfo>,
    resource_info: Option<ResourceInfo>,
    help: Option<Help>,
    localized_message: Option<LocalizedMessage>,
    other: Vec<Any>,
}

mod sealed {
    pub trait Sealed {}
}

/// One of the ten standard messages of `google/rpc/error_details.proto`,
/// each of which has a slot in [`ErrorDetails`]. Sealed: the set is the
/// proto's.
pub trait StandardDetail: prost::Name + Default + sealed::Sealed {
    /// The type URL ferrule writes: `type.googleapis.com/google.rpc.<Name>`.
    const TYPE_URL: &'static str;
    /// The full name a type URL ends with: `google.rpc.<Name>`.
    const FULL_NAME: &'static str;

    #[doc(hidden)]
    fn slot(details: &ErrorDetails) -> &Option<Self>;

    #[doc(hidden)]
    fn slot_mut(details: &mut ErrorDetails) -> &mut Option<Self>;
}

macro_rules! standard_details {
    ($( $field:ident: $ty:ident ),+ $(,)?) => {
        $(
            impl sealed::Sealed for $ty {}

            impl StandardDetail for $ty {
                const TYPE_URL: &'static str = $ty::TYPE_URL;
                const FULL_NAME: &'static str = $ty::FULL_NAME;

                fn slot(details: &ErrorDetails) -> &Option<Self> {
                    &details.$field
                }

                fn slot_mut(details: &mut ErrorDetails) -> &mut Option<Self> {
                    &mut details.$field
                }
            }
        )+

        impl ErrorDetails {
            $(
                #[doc = concat!("The `google.rpc.", stringify!($ty), "`, if any.")]
                pub fn $field(&self) -> Option<&$ty> {
                    self.$field.as_ref()
                }
            )+

            /// How many messages [`ErrorDetails::to_any_vec`] packs.
            pub fn len(&self) -> usize {
                let mut len = self.other.len();
                $( len += usize::from(self.$field.is_some()); )+
                len
            }

            /// Every message packed, standard ones first in the proto's
            /// order, then [`ErrorDetails::other`].
            pub fn to_any_vec(&self) -> Vec<Any> {
                let mut anys = Vec::with_capacity(self.len());
                $(
                    if let Some(detail) = &self.$field {
                        anys.push(pack(detail));
                    }
                )+
                anys.extend(self.other.iter().cloned());
                anys
            }

            /// The details these packed messages describe. An error if one of
            /// a standard type does not decode; other types are kept as they
            /// are, in [`ErrorDetails::other`].
            pub fn from_any_vec(anys: Vec<Any>) -> Result<ErrorDetails, DetailsError> {
                let mut details = ErrorDetails::new();
                for any in anys {
                    let placed = match any.type_name() {
                        $( $ty::FULL_NAME => details.place::<$ty>(&any)?, )+
                        _ => false,
                    };
                    if !placed {
                        details.other.push(any);
                    }
                }
                Ok(details)
            }
        }
    };
}

// The proto's order, which is also the order of encoding.
standard_details! {
    error_info: ErrorInfo,
    retry_info: RetryInfo,
    debug_info: DebugInfo,
    quota_failure: QuotaFailure,
    precondition_failure: PreconditionFailure,
    bad_request: BadRequest,
    request_info: RequestInfo,
    resource_info: ResourceInfo,
    help: Help,
    localized_message: LocalizedMessage,
}

fn pack<D: StandardDetail>(detail: &D) -> Any {
    Any {
        type_url: String::from(D::TYPE_URL),
        value: Bytes::from(detail.encode_to_vec()),
    }
}

impl ErrorDetails {
    /// No details.
    pub fn new() -> ErrorDetails {
        ErrorDetails::default()
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packed messages of types other than the standard ones (and later
    /// copies of a standard one), in the order they came.
    pub fn other(&self) -> &[Any] {
        &self.other
    }

    /// The standard message of type `D`, if any.
    pub fn get<D: StandardDetail>(&self) -> Option<&D> {
        D::slot(self).as_ref()
    }

    /// The standard message of type `D`, if any, to change in place.
    pub fn get_mut<D: StandardDetail>(&mut self) -> Option<&mut D> {
        D::slot_mut(self).as_mut()
    }

    /// Sets the standard message of type `D`, returning the one it replaces.
    pub fn insert<D: StandardDetail>(&mut self, detail: D) -> Option<D> {
        D::slot_mut(self).replace(detail)
    }

    /// Takes out the standard message of type `D`.
    pub fn remove<D: StandardDetail>(&mut self) -> Option<D> {
        D::slot_mut(self).take()
    }

    /// These details with `detail` as the message of its type (replacing any).
    pub fn with_detail<D: StandardDetail>(mut self, detail: D) -> ErrorDetails {
        self.insert(detail);
        self
    }

    /// These details with a further packed message, sent after the standard
    /// ones (see [`Any::from_msg`] to pack a prost message).
    pub fn with_other(mut self, any: Any) -> ErrorDetails {
        self.other.push(any);
        self
    }

    /// With an [`ErrorInfo`]: the machine-readable cause.
    pub fn with_error_info<K, V>(
        self,
        reason: impl Into<String>,
        domain: impl Into<String>,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) -> ErrorDetails
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.with_detail(ErrorInfo::new(reason, domain, metadata))
    }

    /// With a [`RetryInfo`]: how long to wait before retrying.
    pub fn with_retry_info(self, retry_delay: core::time::Duration) -> ErrorDetails {
        self.with_detail(RetryInfo::new(retry_delay))
    }

    /// With a [`DebugInfo`]: a stack trace and more.
    pub fn with_debug_info<S: Into<String>>(
        self,
        stack_entries: impl IntoIterator<Item = S>,
        detail: impl Into<String>,
    ) -> ErrorDetails {
        self.with_detail(DebugInfo::new(stack_entries, detail))
    }

    /// With a [`QuotaFailure`]: the quotas exceeded.
    pub fn with_quota_failure(
        self,
        violations: impl IntoIterator<Item = QuotaViolation>,
    ) -> ErrorDetails {
        self.with_detail(QuotaFailure::new(violations))
    }

    /// With a [`PreconditionFailure`]: the preconditions not met.
    pub fn with_precondition_failure(
        self,
        violations: impl IntoIterator<Item = PreconditionViolation>,
    ) -> ErrorDetails {
        self.with_detail(PreconditionFailure::new(violations))
    }

    /// With a [`BadRequest`]: the invalid fields of the request.
    pub fn with_bad_request(
        self,
        field_violations: impl IntoIterator<Item = FieldViolation>,
    ) -> ErrorDetails {
        self.with_detail(BadRequest::new(field_violations))
    }

    /// Adds a field violation to the [`BadRequest`], creating it if needed:
    /// for validation code that finds problems one at a time.
    pub fn add_bad_request_violation(&mut self, violation: FieldViolation) -> &mut ErrorDetails {
        self.bad_request
            .get_or_insert_with(BadRequest::default)
            .field_violations
            .push(violation);
        self
    }

    /// With a [`RequestInfo`]: what identifies the request.
    pub fn with_request_info(
        self,
        request_id: impl Into<String>,
        serving_data: impl Into<String>,
    ) -> ErrorDetails {
        self.with_detail(RequestInfo::new(request_id, serving_data))
    }

    /// With a [`ResourceInfo`]: the resource being accessed.
    pub fn with_resource_info(
        self,
        resource_type: impl Into<String>,
        resource_name: impl Into<String>,
        owner: impl Into<String>,
        description: impl Into<String>,
    ) -> ErrorDetails {
        self.with_detail(ResourceInfo::new(
            resource_type,
            resource_name,
            owner,
            description,
        ))
    }

    /// With a [`Help`]: links to documentation.
    pub fn with_help(self, links: impl IntoIterator<Item = HelpLink>) -> ErrorDetails {
        self.with_detail(Help::new(links))
    }

    /// With a [`LocalizedMessage`]: an error message for the end user.
    pub fn with_localized_message(
        self,
        locale: impl Into<String>,
        message: impl Into<String>,
    ) -> ErrorDetails {
        self.with_detail(LocalizedMessage::new(locale, message))
    }

    /// Decodes `any` into the slot of `D` if that is empty; `Ok(false)` if a
    /// `D` came first (the caller keeps this one in `other`). Either way the
    /// value must decode: a malformed standard message is an error wherever
    /// it sits.
    fn place<D: StandardDetail>(&mut self, any: &Any) -> Result<bool, DetailsError> {
        let detail = any.decode_value::<D>()?;
        let slot = D::slot_mut(self);
        if slot.is_some() {
            return Ok(false);
        }
        *slot = Some(detail);
        Ok(true)
    }
}

impl Status {
    /// A status with this code and message whose [`Status::details`] is a
    /// `google.rpc.Status` with the same code and message and `details`
    /// packed (nothing, if `details` is empty).
    pub fn with_error_details(
        code: Code,
        message: impl Into<Cow<'static, str>>,
        details: ErrorDetails,
    ) -> Status {
        let status = Status::new(code, message);
        if details.is_empty() {
            return status;
        }
        let rpc = RpcStatus {
            code,
            message: String::from(status.message()),
            details: details.to_any_vec(),
        };
        status.with_details(rpc.to_bytes())
    }

    /// The error details this status carries (none if [`Status::details`] is
    /// empty). An error if the details are not a `google.rpc.Status` or a
    /// standard message in them does not decode; [`Status::details_any`]
    /// reads the packed messages without decoding them.
    ///
    /// The code and message inside the details are not compared with this
    /// status's: a received status was checked when it was built
    /// ([`Status::from_header_values`]), and the status's own win.
    pub fn error_details(&self) -> Result<ErrorDetails, DetailsError> {
        if self.details().is_empty() {
            return Ok(ErrorDetails::new());
        }
        let rpc = RpcStatus::decode(self.details())?;
        ErrorDetails::from_any_vec(rpc.details)
    }
}

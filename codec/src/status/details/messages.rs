//! The messages of `google/rpc/error_details.proto` (googleapis), with
//! `google.protobuf.Duration` for [`RetryInfo`].
//!
//! Field names, numbers and types follow the current proto, including the
//! fields added since 2015 (`QuotaFailure.Violation.api_service` through
//! `future_quota_value`, `BadRequest.FieldViolation.reason` and
//! `localized_message`); a peer on an older copy of the proto skips the fields
//! it does not know, and so do these decoders.
//!
//! Nested messages get flat names, as in tonic-types: `QuotaFailure.Violation`
//! is [`QuotaViolation`], `PreconditionFailure.Violation` is
//! [`PreconditionViolation`], `BadRequest.FieldViolation` is
//! [`FieldViolation`] and `Help.Link` is [`HelpLink`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// `google.protobuf.Duration`: a signed span of time, as [`RetryInfo`] carries
/// it. Convert from a [`core::time::Duration`] with `From`, and back with
/// [`Duration::to_std`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Duration {
    /// `seconds` (field 1): whole seconds, from -315,576,000,000 to
    /// +315,576,000,000 (about 10,000 years).
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// `nanos` (field 2): fractions of a second, `0..1_000_000_000` with the
    /// sign of `seconds`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The largest `seconds` a `google.protobuf.Duration` may hold.
const MAX_DURATION_SECONDS: u64 = 315_576_000_000;

impl From<core::time::Duration> for Duration {
    /// The same span; spans beyond the 10,000 years a
    /// `google.protobuf.Duration` can hold saturate at that limit.
    fn from(duration: core::time::Duration) -> Duration {
        if duration.as_secs() > MAX_DURATION_SECONDS {
            return Duration {
                seconds: MAX_DURATION_SECONDS as i64,
                nanos: 0,
            };
        }
        // Both fit: seconds is at most 315,576,000,000 and nanos below 10^9.
        Duration {
            seconds: duration.as_secs() as i64,
            nanos: duration.subsec_nanos() as i32,
        }
    }
}

impl Duration {
    /// This span as a [`core::time::Duration`]; `None` if it is negative or
    /// not a valid `google.protobuf.Duration` (nanos out of range).
    pub fn to_std(self) -> Option<core::time::Duration> {
        let seconds = u64::try_from(self.seconds).ok()?;
        let nanos = u32::try_from(self.nanos).ok()?;
        if nanos >= 1_000_000_000 {
            return None;
        }
        Some(core::time::Duration::new(seconds, nanos))
    }
}

/// `google.rpc.ErrorInfo`: the cause of the error, as a machine-readable
/// reason within a domain. AIP-193 asks every error to carry one.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ErrorInfo {
    /// `reason` (field 1): a constant naming the proximate cause, unique
    /// within `domain`; at most 63 characters of `[A-Z0-9_]`.
    #[prost(string, tag = "1")]
    pub reason: String,
    /// `domain` (field 2): the grouping `reason` belongs to, often the
    /// service name (`"pubsub.googleapis.com"`).
    #[prost(string, tag = "2")]
    pub domain: String,
    /// `metadata` (field 3): further structured details. A `BTreeMap` so that
    /// encoding is deterministic and works without `std`.
    #[prost(btree_map = "string, string", tag = "3")]
    pub metadata: BTreeMap<String, String>,
}

impl ErrorInfo {
    /// An `ErrorInfo` with this reason, domain and metadata.
    pub fn new<K, V>(
        reason: impl Into<String>,
        domain: impl Into<String>,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) -> ErrorInfo
    where
        K: Into<String>,
        V: Into<String>,
    {
        ErrorInfo {
            reason: reason.into(),
            domain: domain.into(),
            metadata: metadata
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        }
    }
}

/// `google.rpc.RetryInfo`: how long the client should wait before retrying.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct RetryInfo {
    /// `retry_delay` (field 1): wait at least this long between retries of
    /// the same request.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<Duration>,
}

impl RetryInfo {
    /// A `RetryInfo` asking for this delay.
    pub fn new(retry_delay: core::time::Duration) -> RetryInfo {
        RetryInfo {
            retry_delay: Some(Duration::from(retry_delay)),
        }
    }

    /// The delay asked for; `None` if the field is absent, negative or not a
    /// valid duration, which a client treats as no advice at all.
    pub fn delay(&self) -> Option<core::time::Duration> {
        self.retry_delay.and_then(Duration::to_std)
    }
}

/// `google.rpc.DebugInfo`: debugging information from the server.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct DebugInfo {
    /// `stack_entries` (field 1): the stack trace where the error occurred.
    #[prost(string, repeated, tag = "1")]
    pub stack_entries: Vec<String>,
    /// `detail` (field 2): any further debugging information.
    #[prost(string, tag = "2")]
    pub detail: String,
}

impl DebugInfo {
    /// A `DebugInfo` with these stack entries and detail.
    pub fn new<S: Into<String>>(
        stack_entries: impl IntoIterator<Item = S>,
        detail: impl Into<String>,
    ) -> DebugInfo {
        DebugInfo {
            stack_entries: stack_entries.into_iter().map(Into::into).collect(),
            detail: detail.into(),
        }
    }
}

/// `google.rpc.QuotaFailure`: which quota checks failed.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct QuotaFailure {
    /// `violations` (field 1).
    #[prost(message, repeated, tag = "1")]
    pub violations: Vec<QuotaViolation>,
}

impl QuotaFailure {
    /// A `QuotaFailure` with these violations.
    pub fn new(violations: impl IntoIterator<Item = QuotaViolation>) -> QuotaFailure {
        QuotaFailure {
            violations: violations.into_iter().collect(),
        }
    }
}

/// `google.rpc.QuotaFailure.Violation`: one quota that was exceeded.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct QuotaViolation {
    /// `subject` (field 1): on what the check failed, such as
    /// `"clientip:<ip address>"` or `"project:<id>"`.
    #[prost(string, tag = "1")]
    pub subject: String,
    /// `description` (field 2): how it failed, such as `"Daily Limit for read
    /// operations exceeded"`.
    #[prost(string, tag = "2")]
    pub description: String,
    /// `api_service` (field 3): the API service the quota belongs to.
    #[prost(string, tag = "3")]
    pub api_service: String,
    /// `quota_metric` (field 4): the metric the quota counts.
    #[prost(string, tag = "4")]
    pub quota_metric: String,
    /// `quota_id` (field 5): the quota's identifier within the service.
    #[prost(string, tag = "5")]
    pub quota_id: String,
    /// `quota_dimensions` (field 6): the dimensions the quota is enforced on
    /// (`"region": "us-central1"`).
    #[prost(btree_map = "string, string", tag = "6")]
    pub quota_dimensions: BTreeMap<String, String>,
    /// `quota_value` (field 7): the enforced quota value.
    #[prost(int64, tag = "7")]
    pub quota_value: i64,
    /// `future_quota_value` (field 8, proto3 `optional`): the value being
    /// rolled out, if a change is in progress.
    #[prost(int64, optional, tag = "8")]
    pub future_quota_value: Option<i64>,
}

impl QuotaViolation {
    /// A violation with this subject and description; the other fields are
    /// empty (set them with struct update syntax).
    pub fn new(subject: impl Into<String>, description: impl Into<String>) -> QuotaViolation {
        QuotaViolation {
            subject: subject.into(),
            description: description.into(),
            ..QuotaViolation::default()
        }
    }
}

/// `google.rpc.PreconditionFailure`: which preconditions failed.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct PreconditionFailure {
    /// `violations` (field 1).
    #[prost(message, repeated, tag = "1")]
    pub violations: Vec<PreconditionViolation>,
}

impl PreconditionFailure {
    /// A `PreconditionFailure` with these violations.
    pub fn new(violations: impl IntoIterator<Item = PreconditionViolation>) -> PreconditionFailure {
        PreconditionFailure {
            violations: violations.into_iter().collect(),
        }
    }
}

/// `google.rpc.PreconditionFailure.Violation`: one failed precondition.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct PreconditionViolation {
    /// `type` (field 1): a service-specific kind, such as `"TOS"`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// `subject` (field 2): what failed, relative to the type.
    #[prost(string, tag = "2")]
    pub subject: String,
    /// `description` (field 3): how it failed and how to fix it.
    #[prost(string, tag = "3")]
    pub description: String,
}

impl PreconditionViolation {
    /// A violation of this type, subject and description.
    pub fn new(
        r#type: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> PreconditionViolation {
        PreconditionViolation {
            r#type: r#type.into(),
            subject: subject.into(),
            description: description.into(),
        }
    }
}

/// `google.rpc.BadRequest`: which fields of the request are invalid.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct BadRequest {
    /// `field_violations` (field 1).
    #[prost(message, repeated, tag = "1")]
    pub field_violations: Vec<FieldViolation>,
}

impl BadRequest {
    /// A `BadRequest` with these violations.
    pub fn new(field_violations: impl IntoIterator<Item = FieldViolation>) -> BadRequest {
        BadRequest {
            field_violations: field_violations.into_iter().collect(),
        }
    }
}

/// `google.rpc.BadRequest.FieldViolation`: one invalid field.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct FieldViolation {
    /// `field` (field 1): the path to the field, as dot-separated
    /// identifiers (`"field_violations.field"`).
    #[prost(string, tag = "1")]
    pub field: String,
    /// `description` (field 2): why the field is invalid.
    #[prost(string, tag = "2")]
    pub description: String,
    /// `reason` (field 3): a constant naming the cause, in the style of
    /// [`ErrorInfo::reason`].
    #[prost(string, tag = "3")]
    pub reason: String,
    /// `localized_message` (field 4): the description for an end user.
    #[prost(message, optional, tag = "4")]
    pub localized_message: Option<LocalizedMessage>,
}

impl FieldViolation {
    /// A violation of this field with this description.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
        FieldViolation {
            field: field.into(),
            description: description.into(),
            reason: String::new(),
            localized_message: None,
        }
    }

    /// This violation with a reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> FieldViolation {
        self.reason = reason.into();
        self
    }

    /// This violation with a message for an end user in `locale`.
    pub fn with_localized_message(
        mut self,
        locale: impl Into<String>,
        message: impl Into<String>,
    ) -> FieldViolation {
        self.localized_message = Some(LocalizedMessage::new(locale, message));
        self
    }
}

/// `google.rpc.RequestInfo`: what identifies the request, for bug reports.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct RequestInfo {
    /// `request_id` (field 1): opaque to all but the service.
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// `serving_data` (field 2): data used to serve the request, such as an
    /// encrypted stack trace.
    #[prost(string, tag = "2")]
    pub serving_data: String,
}

impl RequestInfo {
    /// A `RequestInfo` with this request id and serving data.
    pub fn new(request_id: impl Into<String>, serving_data: impl Into<String>) -> RequestInfo {
        RequestInfo {
            request_id: request_id.into(),
            serving_data: serving_data.into(),
        }
    }
}

/// `google.rpc.ResourceInfo`: the resource being accessed.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ResourceInfo {
    /// `resource_type` (field 1): a name (`"sql table"`) or type URL.
    #[prost(string, tag = "1")]
    pub resource_type: String,
    /// `resource_name` (field 2).
    #[prost(string, tag = "2")]
    pub resource_name: String,
    /// `owner` (field 3), optional: `"user:<email>"`, `"project:<id>"`.
    #[prost(string, tag = "3")]
    pub owner: String,
    /// `description` (field 4): what went wrong accessing it.
    #[prost(string, tag = "4")]
    pub description: String,
}

impl ResourceInfo {
    /// A `ResourceInfo` with these fields.
    pub fn new(
        resource_type: impl Into<String>,
        resource_name: impl Into<String>,
        owner: impl Into<String>,
        description: impl Into<String>,
    ) -> ResourceInfo {
        ResourceInfo {
            resource_type: resource_type.into(),
            resource_name: resource_name.into(),
            owner: owner.into(),
            description: description.into(),
        }
    }
}

/// `google.rpc.Help`: links to documentation or to an out-of-band action.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Help {
    /// `links` (field 1).
    #[prost(message, repeated, tag = "1")]
    pub links: Vec<HelpLink>,
}

impl Help {
    /// A `Help` with these links.
    pub fn new(links: impl IntoIterator<Item = HelpLink>) -> Help {
        Help {
            links: links.into_iter().collect(),
        }
    }
}

/// `google.rpc.Help.Link`: one link.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct HelpLink {
    /// `description` (field 1): what the link offers.
    #[prost(string, tag = "1")]
    pub description: String,
    /// `url` (field 2).
    #[prost(string, tag = "2")]
    pub url: String,
}

impl HelpLink {
    /// A link to `url`, described by `description`.
    pub fn new(description: impl Into<String>, url: impl Into<String>) -> HelpLink {
        HelpLink {
            description: description.into(),
            url: url.into(),
        }
    }
}

/// `google.rpc.LocalizedMessage`: an error message safe to show a user.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct LocalizedMessage {
    /// `locale` (field 1): a BCP 47 tag such as `"en-US"`.
    #[prost(string, tag = "1")]
    pub locale: String,
    /// `message` (field 2): the message in that locale.
    #[prost(string, tag = "2")]
    pub message: String,
}

impl LocalizedMessage {
    /// A message in `locale`.
    pub fn new(locale: impl Into<String>, message: impl Into<String>) -> LocalizedMessage {
        LocalizedMessage {
            locale: locale.into(),
            message: message.into(),
        }
    }
}

/// Type names for the messages that travel in a `google.protobuf.Any`: the
/// `TYPE_URL` constant ferrule writes, and [`prost::Name`] so that the types
/// also work with prost's own `Any` helpers. Nested messages and
/// `google.protobuf.Duration` are named too, as prost-build would name them.
macro_rules! type_names {
    ($( $ty:ident: $package:literal, $name:literal, $full:literal; )+) => {
        $(
            impl $ty {
                #[doc = concat!("`\"type.googleapis.com/", $package, ".", $full, "\"`: the type URL of a packed `", $full, "`.")]
                pub const TYPE_URL: &'static str =
                    concat!("type.googleapis.com/", $package, ".", $full);
                #[doc = concat!("`\"", $package, ".", $full, "\"`: the full name a type URL ends with.")]
                pub const FULL_NAME: &'static str = concat!($package, ".", $full);
            }

            impl prost::Name for $ty {
                const NAME: &'static str = $name;
                const PACKAGE: &'static str = $package;

                fn full_name() -> String {
                    String::from(Self::FULL_NAME)
                }

                fn type_url() -> String {
                    String::from(Self::TYPE_URL)
                }
            }
        )+
    };
}

type_names! {
    Duration: "google.protobuf", "Duration", "Duration";
    ErrorInfo: "google.rpc", "ErrorInfo", "ErrorInfo";
    RetryInfo: "google.rpc", "RetryInfo", "RetryInfo";
    DebugInfo: "google.rpc", "DebugInfo", "DebugInfo";
    QuotaFailure: "google.rpc", "QuotaFailure", "QuotaFailure";
    QuotaViolation: "google.rpc", "Violation", "QuotaFailure.Violation";
    PreconditionFailure: "google.rpc", "PreconditionFailure", "PreconditionFailure";
    PreconditionViolation: "google.rpc", "Violation", "PreconditionFailure.Violation";
    BadRequest: "google.rpc", "BadRequest", "BadRequest";
    FieldViolation: "google.rpc", "FieldViolation", "BadRequest.FieldViolation";
    RequestInfo: "google.rpc", "RequestInfo", "RequestInfo";
    ResourceInfo: "google.rpc", "ResourceInfo", "ResourceInfo";
    Help: "google.rpc", "Help", "Help";
    HelpLink: "google.rpc", "Link", "Help.Link";
    LocalizedMessage: "google.rpc", "LocalizedMessage", "LocalizedMessage";
}

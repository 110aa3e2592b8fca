//! Packing messages into [`Any`] and reading them back.

use crate::status::Any;
#[cfg(feature = "prost")]
use {super::DetailsError, alloc::string::String, bytes::Bytes};

impl Any {
    /// The full name of the packed type: what follows the last `/` of the
    /// type URL (`"google.rpc.BadRequest"` for
    /// `"type.googleapis.com/google.rpc.BadRequest"`), which is all that
    /// names the type; the part before it is not checked.
    pub fn type_name(&self) -> &str {
        self.type_url
            .rsplit_once('/')
            .map_or(self.type_url.as_str(), |(_, name)| name)
    }

    /// `message` packed with its [`prost::Name::type_url`] (for the types of
    /// [`details`](crate::status::details), `type.googleapis.com/google.rpc.<Name>`).
    #[cfg(feature = "prost")]
    pub fn from_msg<M: prost::Name>(message: &M) -> Any {
        Any {
            type_url: M::type_url(),
            value: Bytes::from(message.encode_to_vec()),
        }
    }

    /// Whether this holds an `M`, judged by [`Any::type_name`].
    #[cfg(feature = "prost")]
    pub fn is<M: prost::Name>(&self) -> bool {
        self.type_name() == M::full_name()
    }

    /// The `M` packed here; an error if this holds another type or the value
    /// does not decode.
    #[cfg(feature = "prost")]
    pub fn to_msg<M: prost::Name + Default>(&self) -> Result<M, DetailsError> {
        if !self.is::<M>() {
            return Err(DetailsError::WrongType {
                expected: M::full_name(),
                found: self.type_url.clone(),
            });
        }
        self.decode_value()
    }

    /// The value decoded as an `M`, whatever the type URL says.
    #[cfg(feature = "prost")]
    pub(super) fn decode_value<M: prost::Name + Default>(&self) -> Result<M, DetailsError> {
        M::decode(self.value.clone()).map_err(|error| DetailsError::Detail {
            type_name: String::from(self.type_name()),
            error,
        })
    }
}

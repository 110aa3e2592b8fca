//! [`CallPath`]: the method path a client call is sent to.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::uri::PathAndQuery;

use super::headers::split_path;

/// The method path of a call, `/package.Service/Method`, as
/// [`ClientConnection::start_call`](super::ClientConnection::start_call)
/// takes it.
///
/// Made from a `&'static str` (what generated code has) or a `String`
/// without copying the text, and validated once, when made: a `CallPath`
/// kept and cloned costs no allocation and no parsing per call. A path that
/// is not of the form `/service/method` (a query, a fragment, an empty part,
/// a character a URI cannot carry) is kept as it was given;
/// [`is_valid`](Self::is_valid) says so and `start_call` refuses it with
/// [`StartCallError::InvalidPath`](super::StartCallError::InvalidPath).
///
/// A borrowed `&str` that is not `'static` converts through
/// `String` (`path.to_owned().into()`), the one copy it needs.
#[derive(Clone, PartialEq, Eq)]
pub struct CallPath(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Valid(PathAndQuery),
    Invalid(Cow<'static, str>),
}

impl CallPath {
    /// The path as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Valid(path) => path.as_str(),
            Repr::Invalid(text) => text,
        }
    }

    /// Whether the path is of the form `/service/method` and can be sent.
    pub fn is_valid(&self) -> bool {
        matches!(self.0, Repr::Valid(_))
    }

    /// The parsed path, if valid.
    pub(crate) fn to_path_and_query(&self) -> Option<PathAndQuery> {
        match &self.0 {
            Repr::Valid(path) => Some(path.clone()),
            Repr::Invalid(_) => None,
        }
    }
}

/// Parses `text` without copying it; `None` unless it is exactly
/// `/service/method`. (http drops a `#fragment` silently, hence the length
/// check.)
fn parse(text: Bytes) -> Option<PathAndQuery> {
    let len = text.len();
    let path = PathAndQuery::from_maybe_shared(text).ok()?;
    let exact = path.as_str().len() == len && path.query().is_none();
    (exact && split_path(path.path()).is_some()).then_some(path)
}

impl From<&'static str> for CallPath {
    fn from(path: &'static str) -> CallPath {
        match parse(Bytes::from_static(path.as_bytes())) {
            Some(valid) => CallPath(Repr::Valid(valid)),
            None => CallPath(Repr::Invalid(Cow::Borrowed(path))),
        }
    }
}

impl From<String> for CallPath {
    fn from(path: String) -> CallPath {
        let bytes = Bytes::from(path);
        match parse(bytes.clone()) {
            Some(valid) => CallPath(Repr::Valid(valid)),
            // The bytes came from a String: they are UTF-8.
            None => CallPath(Repr::Invalid(Cow::Owned(
                String::from_utf8_lossy(&bytes).into_owned(),
            ))),
        }
    }
}

impl From<PathAndQuery> for CallPath {
    fn from(path: PathAndQuery) -> CallPath {
        if path.query().is_none() && split_path(path.path()).is_some() {
            CallPath(Repr::Valid(path))
        } else {
            CallPath(Repr::Invalid(Cow::Owned(path.as_str().to_owned())))
        }
    }
}

impl From<&CallPath> for CallPath {
    fn from(path: &CallPath) -> CallPath {
        path.clone()
    }
}

impl fmt::Debug for CallPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for CallPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_paths_are_valid_and_everything_else_is_not() {
        let table: &[(&'static str, bool)] = &[
            ("/pkg.Svc/Method", true),
            ("/a/b", true),
            ("/grpc.health.v1.Health/Check", true),
            ("", false),
            ("/", false),
            ("/a", false),
            ("/a/", false),
            ("//b", false),
            ("/a/b/c", false),
            ("a/b", false),
            ("/a/b?x=1", false),
            ("/a/b?", false),
            ("/a/b#frag", false),
            ("/a b/c", false),
            ("/a/b\n", false),
        ];
        for &(text, valid) in table {
            let from_static = CallPath::from(text);
            let from_string = CallPath::from(text.to_owned());
            for path in [&from_static, &from_string] {
                assert_eq!(path.is_valid(), valid, "{text:?}");
                assert_eq!(path.as_str(), text, "the text is kept: {text:?}");
                assert_eq!(path.to_path_and_query().is_some(), valid, "{text:?}");
            }
            assert_eq!(from_static, from_string);
        }
    }

    #[test]
    fn a_parsed_path_and_query_converts_when_it_is_a_method_path() {
        let ok = CallPath::from(PathAndQuery::from_static("/a.B/C"));
        assert!(ok.is_valid());
        assert_eq!(ok.to_string(), "/a.B/C");
        let query = CallPath::from(PathAndQuery::from_static("/a.B/C?x"));
        assert!(!query.is_valid());
        assert_eq!(format!("{query:?}"), "\"/a.B/C?x\"");
    }

    #[test]
    fn a_static_path_keeps_pointing_at_the_static_text() {
        const PATH: &str = "/s.S/M";
        let path = CallPath::from(PATH);
        assert_eq!(path.as_str().as_ptr(), PATH.as_ptr(), "no copy was made");
        let clone = path.clone();
        assert_eq!(clone.as_str().as_ptr(), PATH.as_ptr());
    }
}

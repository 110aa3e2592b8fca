//! The status of a response that has no `grpc-status`, from its HTTP status
//! (grpc/grpc `doc/http-grpc-status-mapping.md`).

use super::{Code, Status};
use alloc::format;

impl Code {
    /// The code for a response that carries no `grpc-status`, from its HTTP
    /// `:status`, per `doc/http-grpc-status-mapping.md`:
    ///
    /// | HTTP status | code |
    /// |---|---|
    /// | 400 Bad Request | `INTERNAL` |
    /// | 401 Unauthorized | `UNAUTHENTICATED` |
    /// | 403 Forbidden | `PERMISSION_DENIED` |
    /// | 404 Not Found | `UNIMPLEMENTED` |
    /// | 429 Too Many Requests | `UNAVAILABLE` |
    /// | 431 Request Header Fields Too Large | `INTERNAL` |
    /// | 502, 503, 504 | `UNAVAILABLE` |
    /// | anything else, 200 included | `UNKNOWN` |
    ///
    /// 200 maps to `UNKNOWN` because a truly OK response has a `grpc-status`.
    /// Only a client uses this table, and only when `grpc-status` is absent; a
    /// server must not use it to choose an HTTP status (it is not symmetric).
    ///
    /// A 1xx response is interim: the caller skips that header block and waits
    /// for the final one (RFC 9113 §8.1) instead of calling this; if it maps one
    /// anyway it gets `UNKNOWN`, like any other unlisted status.
    pub const fn from_http_status(status: u16) -> Code {
        match status {
            400 | 431 => Code::INTERNAL,
            401 => Code::UNAUTHENTICATED,
            403 => Code::PERMISSION_DENIED,
            404 => Code::UNIMPLEMENTED,
            429 | 502 | 503 | 504 => Code::UNAVAILABLE,
            _ => Code::UNKNOWN,
        }
    }
}

/// The reason phrase for the HTTP statuses a gRPC client is likely to meet from
/// a proxy; only used to make messages readable.
const fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        421 => "Misdirected Request",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => return None,
    })
}

impl Status {
    /// The status a client reports for a response without `grpc-status`:
    /// [`Code::from_http_status`] and a message naming the HTTP status, such as
    /// `"HTTP status 503 (Service Unavailable) without grpc-status"`.
    ///
    /// (grpc-go says "unexpected HTTP status code received from server: 503
    /// (Service Unavailable)", tonic "grpc-status header missing, mapped from
    /// HTTP status code 503"; this message also reads right for a 200 whose
    /// trailers lack `grpc-status`.)
    pub fn from_http_status(status: u16) -> Status {
        let message = match reason_phrase(status) {
            Some(reason) => format!("HTTP status {status} ({reason}) without grpc-status"),
            None => format!("HTTP status {status} without grpc-status"),
        };
        Status::new(Code::from_http_status(status), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_table() {
        let cases: &[(u16, Code)] = &[
            (400, Code::INTERNAL),
            (401, Code::UNAUTHENTICATED),
            (403, Code::PERMISSION_DENIED),
            (404, Code::UNIMPLEMENTED),
            (429, Code::UNAVAILABLE),
            (431, Code::INTERNAL),
            (502, Code::UNAVAILABLE),
            (503, Code::UNAVAILABLE),
            (504, Code::UNAVAILABLE),
            (200, Code::UNKNOWN),
            (100, Code::UNKNOWN),
            (103, Code::UNKNOWN),
            (302, Code::UNKNOWN),
            (405, Code::UNKNOWN),
            (413, Code::UNKNOWN),
            (500, Code::UNKNOWN),
            (501, Code::UNKNOWN),
            (0, Code::UNKNOWN),
            (999, Code::UNKNOWN),
            (u16::MAX, Code::UNKNOWN),
        ];
        for &(status, code) in cases {
            assert_eq!(Code::from_http_status(status), code, "HTTP {status}");
        }
    }

    #[test]
    fn status_names_the_http_status() {
        let status = Status::from_http_status(503);
        assert_eq!(status.code(), Code::UNAVAILABLE);
        assert_eq!(
            status.message(),
            "HTTP status 503 (Service Unavailable) without grpc-status"
        );
        let status = Status::from_http_status(299);
        assert_eq!(status.code(), Code::UNKNOWN);
        assert_eq!(status.message(), "HTTP status 299 without grpc-status");
        assert_eq!(
            Status::from_http_status(200).message(),
            "HTTP status 200 (OK) without grpc-status"
        );
    }
}

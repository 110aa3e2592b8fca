//! What the examples share: their command line and the small error type
//! their client flows return. The examples themselves are `bookstore.rs`,
//! `users.rs` and `greeter.rs` beside this file, run with
//! `cargo run --example <name>`.

use std::fmt;

use ferrule::{Code, Status};

/// What an example does when run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Serve on the address, run the client flow against it, shut down.
    Demo,
    /// Serve on the address, run the client flow once, keep serving.
    Serve,
    /// Only run the client flow, against a server already listening.
    Client,
}

/// An example's command line: `[--serve | --client] [--addr HOST:PORT]`.
#[derive(Clone, Debug)]
pub struct Options {
    /// What to do.
    pub mode: Mode,
    /// Where the server listens (or the client connects).
    pub addr: String,
}

impl Options {
    /// Parses the arguments after the program name; `default_addr` unless
    /// `--addr` says otherwise. The error says which argument is wrong.
    pub fn parse(
        mut args: impl Iterator<Item = String>,
        default_addr: &str,
    ) -> Result<Options, String> {
        let mut options = Options {
            mode: Mode::Demo,
            addr: default_addr.to_owned(),
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--serve" => options.mode = Mode::Serve,
                "--client" => options.mode = Mode::Client,
                "--addr" => options.addr = args.next().ok_or("--addr needs HOST:PORT")?,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(options)
    }
}

/// What went wrong in a demo: an unexpected status or answer.
#[derive(Debug)]
pub struct DemoError(pub String);

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DemoError {}

impl From<Status> for DemoError {
    fn from(status: Status) -> DemoError {
        DemoError(format!("unexpected status: {status}"))
    }
}

/// `Ok` when `condition` holds, else an error saying what was `expected`.
pub fn check(condition: bool, expected: &str) -> Result<(), DemoError> {
    if condition {
        Ok(())
    } else {
        Err(DemoError(format!("expected: {expected}")))
    }
}

/// The status of a call that had to fail with `code`; any other outcome is
/// an error naming what came instead.
pub fn expect_code<T: fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
) -> Result<Status, DemoError> {
    match result {
        Err(status) if status.code() == code => Ok(status),
        Err(status) => Err(DemoError(format!("expected {code}, got {status}"))),
        Ok(value) => Err(DemoError(format!(
            "expected {code}, got a response: {value:?}"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().map(|a| a.to_string()), "127.0.0.1:1")
    }

    #[test]
    fn command_line() {
        let demo = parse(&[]).expect("no arguments is the demo");
        assert_eq!((demo.mode, demo.addr.as_str()), (Mode::Demo, "127.0.0.1:1"));
        let serve = parse(&["--serve", "--addr", "0.0.0.0:9"]).expect("valid");
        assert_eq!(
            (serve.mode, serve.addr.as_str()),
            (Mode::Serve, "0.0.0.0:9")
        );
        assert_eq!(parse(&["--client"]).expect("valid").mode, Mode::Client);
        assert_eq!(parse(&["--addr"]).unwrap_err(), "--addr needs HOST:PORT");
        assert_eq!(parse(&["-x"]).unwrap_err(), "unknown argument \"-x\"");
    }

    #[test]
    fn expected_codes() {
        let not_found = Status::new(Code::NOT_FOUND, "no such book");
        let got = expect_code::<()>(Err(not_found.clone()), Code::NOT_FOUND).expect("matches");
        assert_eq!(got.message(), "no such book");
        assert!(expect_code::<()>(Err(not_found), Code::INTERNAL).is_err());
        assert!(expect_code(Ok(1), Code::INTERNAL).is_err());
        assert!(check(true, "x").is_ok());
        assert_eq!(check(false, "x").unwrap_err().0, "expected: x");
    }
}

//! Command-line flags as the official interop binaries take them:
//! `--name=value` or `--name value`; unknown flags are errors.

use std::collections::HashMap;

/// Parsed flags.
#[derive(Debug, Default)]
pub struct Flags {
    values: HashMap<String, String>,
}

impl Flags {
    /// Parses `args` (without the program name), accepting only `known`
    /// flag names.
    pub fn parse<I>(args: I, known: &[&str]) -> Result<Flags, String>
    where
        I: IntoIterator<Item = String>,
    {
        let mut values = HashMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(format!(
                    "unexpected argument {arg:?} (flags are --name=value)"
                ));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("--{flag} needs a value"))?;
                    (flag.to_owned(), value)
                }
            };
            if !known.contains(&name.as_str()) {
                return Err(format!(
                    "unknown flag --{name} (known: --{})",
                    known.join(", --")
                ));
            }
            values.insert(name, value);
        }
        Ok(Flags { values })
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value of `--name`, or `default`.
    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// `--name` parsed with `FromStr`, or `default` when absent.
    pub fn parsed<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("--{name}: cannot parse {text:?}")),
        }
    }

    /// A boolean flag (`true`/`false`, `1`/`0`, `yes`/`no`), or `default`.
    pub fn boolean(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(format!("--{name} must be true or false, not {other:?}")),
        }
    }
}

/// Splits a comma list, dropping empty items.
pub fn comma_list(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, String> {
        Flags::parse(args.iter().map(|s| (*s).to_owned()), &["port", "use_tls"])
    }

    #[test]
    fn both_spellings_and_errors() {
        let flags = parse(&["--port=50051", "--use_tls", "false"]).expect("valid");
        assert_eq!(flags.parsed::<u16>("port", 0), Ok(50051));
        assert_eq!(flags.boolean("use_tls", true), Ok(false));
        assert_eq!(
            parse(&[]).expect("valid").boolean("use_tls", true),
            Ok(true)
        );
        assert!(parse(&["--nope=1"]).is_err());
        assert!(parse(&["port=1"]).is_err());
        assert!(parse(&["--port"]).is_err());
        let flags = parse(&["--port=x", "--use_tls=maybe"]).expect("parses");
        assert!(flags.parsed::<u16>("port", 0).is_err());
        assert!(flags.boolean("use_tls", false).is_err());
    }

    #[test]
    fn comma_lists() {
        assert_eq!(comma_list("a, b,,c "), vec!["a", "b", "c"]);
        assert!(comma_list("").is_empty());
    }
}

//! [`Encoding`] names and the [`EncodingSet`] carried in `grpc-accept-encoding`.

use core::fmt;
use core::ops::{BitAnd, BitOr};

/// A message encoding (the spec's *Content-Coding*), as named in
/// `grpc-encoding` and `grpc-accept-encoding`.
///
/// Every name parses whether or not its feature is enabled, so an engine can
/// tell "unknown" from "known but not built in" and answer with what it does
/// support; [`is_supported`](Self::is_supported) says which ones this build
/// can compress and decompress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// No compression (`identity`); always supported.
    Identity,
    /// `gzip`: the gzip file format (RFC 1952). Feature `gzip`.
    Gzip,
    /// `deflate`: the zlib format (RFC 1950, a deflate stream with a zlib
    /// header and Adler-32 trailer), as grpc-go and grpc C produce it.
    /// Feature `deflate`.
    Deflate,
    /// `zstd`: Zstandard frames (RFC 8878). Feature `zstd`.
    Zstd,
}

impl Encoding {
    /// Every encoding this crate knows, in the order used when formatting a set.
    pub const ALL: [Encoding; 4] = [
        Encoding::Identity,
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Zstd,
    ];

    /// The name on the wire (`"gzip"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Zstd => "zstd",
        }
    }

    /// The encoding named `name`, ignoring surrounding spaces and tabs and ASCII
    /// case (content-codings are case-insensitive in HTTP); `None` for a name
    /// this crate does not know.
    pub fn from_name(name: &[u8]) -> Option<Encoding> {
        let name = crate::metadata::trim_whitespace(name);
        Encoding::ALL
            .into_iter()
            .find(|e| name.eq_ignore_ascii_case(e.as_str().as_bytes()))
    }

    /// Whether this build can compress and decompress with this encoding.
    pub const fn is_supported(self) -> bool {
        match self {
            Encoding::Identity => true,
            Encoding::Gzip => cfg!(feature = "gzip"),
            Encoding::Deflate => cfg!(feature = "deflate"),
            Encoding::Zstd => cfg!(feature = "zstd"),
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Encoding`]s: what a peer accepts, or what we accept.
///
/// Parsed from and formatted as the comma-separated list of
/// `grpc-accept-encoding`. Copy, one byte, no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncodingSet(u8);

impl EncodingSet {
    /// The empty set.
    pub const EMPTY: EncodingSet = EncodingSet(0);

    /// Every encoding this build supports: `identity` plus each enabled
    /// compression feature.
    pub const fn supported() -> EncodingSet {
        let mut set = EncodingSet::EMPTY;
        let mut i = 0;
        while i < Encoding::ALL.len() {
            if Encoding::ALL[i].is_supported() {
                set = set.with(Encoding::ALL[i]);
            }
            i += 1;
        }
        set
    }

    /// The set holding only `encoding`.
    pub const fn only(encoding: Encoding) -> EncodingSet {
        EncodingSet(encoding.bit())
    }

    /// This set plus `encoding`.
    pub const fn with(self, encoding: Encoding) -> EncodingSet {
        EncodingSet(self.0 | encoding.bit())
    }

    /// This set without `encoding`.
    pub const fn without(self, encoding: Encoding) -> EncodingSet {
        EncodingSet(self.0 & !encoding.bit())
    }

    /// Whether `encoding` is in the set.
    pub const fn contains(self, encoding: Encoding) -> bool {
        self.0 & encoding.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The number of encodings in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The encodings in both sets.
    pub const fn intersection(self, other: EncodingSet) -> EncodingSet {
        EncodingSet(self.0 & other.0)
    }

    /// The encodings in either set.
    pub const fn union(self, other: EncodingSet) -> EncodingSet {
        EncodingSet(self.0 | other.0)
    }

    /// The encodings in the set, in [`Encoding::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Encoding> {
        Encoding::ALL.into_iter().filter(move |e| self.contains(*e))
    }

    /// Parses a `grpc-accept-encoding` (or any comma-separated list of
    /// content-codings). Whitespace around names is ignored, and names this
    /// crate does not know (`snappy`, `br`, empty ones) are skipped: they are
    /// never an error. Several header fields can be combined with `|`.
    pub fn parse(header_value: &[u8]) -> EncodingSet {
        header_value
            .split(|&b| b == b',')
            .filter_map(Encoding::from_name)
            .collect()
    }

    /// The set as a `grpc-accept-encoding` value, names separated by `,` in
    /// [`Encoding::ALL`] order (`"identity,gzip"`). Empty for the empty set,
    /// in which case the header should not be sent.
    pub const fn header_value(self) -> &'static str {
        match self.0 {
            1 => "identity",
            2 => "gzip",
            3 => "identity,gzip",
            4 => "deflate",
            5 => "identity,deflate",
            6 => "gzip,deflate",
            7 => "identity,gzip,deflate",
            8 => "zstd",
            9 => "identity,zstd",
            10 => "gzip,zstd",
            11 => "identity,gzip,zstd",
            12 => "deflate,zstd",
            13 => "identity,deflate,zstd",
            14 => "gzip,deflate,zstd",
            15 => "identity,gzip,deflate,zstd",
            _ => "",
        }
    }
}

impl FromIterator<Encoding> for EncodingSet {
    fn from_iter<I: IntoIterator<Item = Encoding>>(iter: I) -> EncodingSet {
        iter.into_iter().fold(EncodingSet::EMPTY, EncodingSet::with)
    }
}

impl BitOr for EncodingSet {
    type Output = EncodingSet;

    fn bitor(self, rhs: EncodingSet) -> EncodingSet {
        self.union(rhs)
    }
}

impl BitAnd for EncodingSet {
    type Output = EncodingSet;

    fn bitand(self, rhs: EncodingSet) -> EncodingSet {
        self.intersection(rhs)
    }
}

impl fmt::Display for EncodingSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header_value())
    }
}

impl fmt::Debug for EncodingSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;
    use quickcheck_macros::quickcheck;

    #[test]
    fn names_round_trip() {
        for e in Encoding::ALL {
            assert_eq!(Encoding::from_name(e.as_str().as_bytes()), Some(e));
        }
        let cases: &[(&[u8], Option<Encoding>)] = &[
            (b"GZIP", Some(Encoding::Gzip)),
            (b" zstd\t", Some(Encoding::Zstd)),
            (b"Deflate", Some(Encoding::Deflate)),
            (b"snappy", None),
            (b"br", None),
            (b"", None),
            (b"gzip,deflate", None),
            (b"gzi", None),
            (b"\xffgzip", None),
        ];
        for &(name, expected) in cases {
            assert_eq!(Encoding::from_name(name), expected, "{name:?}");
        }
    }

    #[test]
    fn supported_follows_features() {
        assert!(Encoding::Identity.is_supported());
        assert_eq!(Encoding::Gzip.is_supported(), cfg!(feature = "gzip"));
        assert_eq!(Encoding::Deflate.is_supported(), cfg!(feature = "deflate"));
        assert_eq!(Encoding::Zstd.is_supported(), cfg!(feature = "zstd"));
        let set = EncodingSet::supported();
        for e in Encoding::ALL {
            assert_eq!(set.contains(e), e.is_supported(), "{e}");
        }
    }

    #[test]
    fn parses_accept_encoding_lists() {
        use Encoding::*;
        let cases: &[(&[u8], &[Encoding])] = &[
            (b"gzip", &[Gzip]),
            (b"gzip,identity", &[Identity, Gzip]),
            (b"identity, deflate , gzip", &[Identity, Gzip, Deflate]),
            (b"snappy,br,zstd", &[Zstd]),
            (b"", &[]),
            (b",,", &[]),
            (b"gzip,gzip", &[Gzip]),
            (b"gzip;q=1.0", &[]),
            (b"\xff\xfe,zstd", &[Zstd]),
        ];
        for &(value, expected) in cases {
            let set = EncodingSet::parse(value);
            assert_eq!(set.iter().collect::<Vec<_>>(), expected, "{value:?}");
            assert_eq!(set.len(), expected.len());
        }
    }

    #[test]
    fn header_value_table_matches_the_order_of_all() {
        for bits in 0u8..16 {
            let set = EncodingSet(bits);
            let joined: Vec<&str> = set.iter().map(Encoding::as_str).collect();
            assert_eq!(set.header_value(), joined.join(","), "{bits}");
            assert_eq!(EncodingSet::parse(set.header_value().as_bytes()), set);
        }
        let set = EncodingSet::only(Encoding::Gzip).with(Encoding::Identity);
        assert_eq!(alloc::format!("{set}"), "identity,gzip");
        assert_eq!(alloc::format!("{set:?}"), "{Identity, Gzip}");
    }

    #[test]
    fn set_operations() {
        let a = EncodingSet::only(Encoding::Gzip).with(Encoding::Zstd);
        let b = EncodingSet::only(Encoding::Zstd).with(Encoding::Deflate);
        assert_eq!(a & b, EncodingSet::only(Encoding::Zstd));
        assert_eq!((a | b).len(), 3);
        assert_eq!(a.without(Encoding::Gzip), EncodingSet::only(Encoding::Zstd));
        assert!(EncodingSet::EMPTY.is_empty());
        assert!(!a.is_empty());
    }

    #[quickcheck]
    fn parse_never_fails_and_finds_only_listed_names(value: String) -> bool {
        let set = EncodingSet::parse(value.as_bytes());
        let lower = value.to_ascii_lowercase();
        set.iter().all(|e| lower.contains(e.as_str()))
    }
}

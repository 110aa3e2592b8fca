//! [`MetadataMap`]: ordered, multi-valued, stored in two flat buffers.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::base64::{decode_binary_value, encode_binary_value, encoded_len, trim_whitespace};
use super::error::{MetadataError, ValueProblem};
use super::key::{is_binary_key, is_reserved, is_valid_key, is_valid_user_key, key_text};

/// Per-field overhead in HTTP/2's header list size accounting (RFC 9113 §6.5.2).
const FIELD_OVERHEAD: usize = 32;

/// Below this many dead bytes a removal never triggers compaction.
const COMPACT_THRESHOLD: usize = 1024;

/// Custom metadata: an ordered list of key/value pairs where keys may repeat.
///
/// Keys are stored lowercase and looked up ignoring ASCII case. Values of a
/// key ending in `-bin` are binary (`&[u8]`), all others are ASCII (`&str`);
/// the ASCII accessors see nothing under a `-bin` key and the `_bin` ones see
/// nothing under other keys. [`len`](Self::len) counts values, not keys.
///
/// The map keeps all keys and ASCII values in one string buffer and binary
/// values in one byte buffer, with a small index entry per value, so a map
/// decoded from a header block costs a handful of allocations whatever its
/// size. Removed bytes are reclaimed once they outweigh the live ones.
///
/// Lookups are linear scans, which suits metadata: header lists are small
/// and bounded by the engine. Adding a value is O(1) whatever a peer sends;
/// each value costs a 40-byte index entry (on 64-bit targets) on top of its
/// bytes, so an empty `-bin` piece (one `,` on the wire) is the worst case.
///
/// ```
/// use ferrule_codec::metadata::{MetadataMap, MetadataError};
///
/// let mut md = MetadataMap::new();
/// md.insert("X-Request-Id", "42")?;
/// md.append_bin("trace-bin", &[0, 1, 2])?;
/// assert_eq!(md.get("x-request-id"), Some("42"));
/// assert_eq!(md.get_bin("trace-bin"), Some(&[0, 1, 2][..]));
/// assert!(matches!(md.insert("grpc-timeout", "1S"), Err(MetadataError::Reserved(_))));
///
/// let wire: Vec<(&str, String)> = md
///     .wire_headers()
///     .map(|(name, value)| (name, value.into_owned()))
///     .collect();
/// assert_eq!(wire, [("x-request-id", "42".to_string()), ("trace-bin", "AAEC".to_string())]);
/// # Ok::<(), MetadataError>(())
/// ```
#[derive(Clone, Default)]
pub struct MetadataMap {
    entries: Vec<Entry>,
    /// Keys (lowercase, one copy per distinct key) and ASCII values.
    pub(super) text: String,
    /// Binary values, decoded.
    pub(super) binary: Vec<u8>,
    /// Bytes of `text` and `binary` no entry points at any more.
    dead_text: usize,
    dead_binary: usize,
}

#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn len(self) -> usize {
        self.end - self.start
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// In `text`; consecutive entries of the same key share one span.
    key: Span,
    /// In `binary` if `binary`, else in `text`.
    value: Span,
    binary: bool,
}

/// A value borrowed from a [`MetadataMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataValue<'a> {
    /// A value of a key that does not end in `-bin`: printable ASCII.
    Ascii(&'a str),
    /// A value of a `-bin` key, decoded.
    Binary(&'a [u8]),
}

impl<'a> MetadataValue<'a> {
    /// The value's bytes (for a binary value, the decoded bytes).
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            MetadataValue::Ascii(s) => s.as_bytes(),
            MetadataValue::Binary(b) => b,
        }
    }

    /// Whether this is a binary value.
    pub fn is_binary(&self) -> bool {
        matches!(self, MetadataValue::Binary(_))
    }
}

enum NewValue<'v> {
    Ascii(&'v str),
    Binary(&'v [u8]),
}

impl MetadataMap {
    /// An empty map; allocates nothing.
    pub const fn new() -> MetadataMap {
        MetadataMap {
            entries: Vec::new(),
            text: String::new(),
            binary: Vec::new(),
            dead_text: 0,
            dead_binary: 0,
        }
    }

    /// An empty map with room for `values` values and `bytes` bytes of keys
    /// and values.
    pub fn with_capacity(values: usize, bytes: usize) -> MetadataMap {
        MetadataMap {
            entries: Vec::with_capacity(values),
            text: String::with_capacity(bytes),
            ..MetadataMap::new()
        }
    }

    /// The number of values (a key with three values counts three).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map holds no value.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every value, keeping the allocated buffers.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.text.clear();
        self.binary.clear();
        self.dead_text = 0;
        self.dead_binary = 0;
    }

    /// Whether the map holds a value (ASCII or binary) under `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.iter().any(|e| self.key_matches(e, key))
    }

    /// The first ASCII value under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_all(key).next()
    }

    /// Every ASCII value under `key`, in order.
    pub fn get_all<'a, 'k>(&'a self, key: &'k str) -> GetAll<'a, 'k> {
        GetAll {
            map: self,
            key,
            next: 0,
        }
    }

    /// The first binary value under `key` (which ends in `-bin`), if any.
    pub fn get_bin(&self, key: &str) -> Option<&[u8]> {
        self.get_all_bin(key).next()
    }

    /// Every binary value under `key`, in order.
    pub fn get_all_bin<'a, 'k>(&'a self, key: &'k str) -> GetAllBin<'a, 'k> {
        GetAllBin {
            map: self,
            key,
            next: 0,
        }
    }

    /// Sets `key` to the single ASCII value `value`, replacing any values it
    /// had (the key keeps its position).
    ///
    /// `key` is lowercased; it must be a valid key, not [reserved](super::is_reserved)
    /// and not end in `-bin`. `value` must be printable ASCII with no leading
    /// or trailing space.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        check_user_key(key, false)?;
        check_user_value(key, value)?;
        self.replace(key, NewValue::Ascii(value));
        Ok(())
    }

    /// Adds the ASCII value `value` under `key` after any it already has.
    /// The rules of [`insert`](Self::insert) apply.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        check_user_key(key, false)?;
        check_user_value(key, value)?;
        self.push(key, NewValue::Ascii(value));
        Ok(())
    }

    /// Sets the `-bin` key `key` to the single binary value `value`,
    /// replacing any values it had (the key keeps its position).
    pub fn insert_bin(&mut self, key: &str, value: &[u8]) -> Result<(), MetadataError> {
        check_user_key(key, true)?;
        self.replace(key, NewValue::Binary(value));
        Ok(())
    }

    /// Adds the binary value `value` under the `-bin` key `key`, after any it
    /// already has.
    pub fn append_bin(&mut self, key: &str, value: &[u8]) -> Result<(), MetadataError> {
        check_user_key(key, true)?;
        self.push(key, NewValue::Binary(value));
        Ok(())
    }

    /// Removes every value under `key`; returns how many there were.
    pub fn remove(&mut self, key: &str) -> usize {
        let before = self.entries.len();
        let mut dead_text = 0;
        let mut dead_binary = 0;
        let mut last_key = usize::MAX;
        let text = &self.text;
        self.entries.retain(|e| {
            let stored = text.get(e.key.start..e.key.end).unwrap_or_default();
            if !stored.eq_ignore_ascii_case(key) {
                return true;
            }
            if e.key.start != last_key {
                // A shared key span is counted once.
                dead_text += e.key.len();
                last_key = e.key.start;
            }
            if e.binary {
                dead_binary += e.value.len();
            } else {
                dead_text += e.value.len();
            }
            false
        });
        let removed = before - self.entries.len();
        if removed > 0 {
            self.dead_text += dead_text;
            self.dead_binary += dead_binary;
            self.maybe_compact();
        }
        removed
    }

    /// Appends every value of `other` after this map's values, in `other`'s
    /// order. Cannot fail: `other` holds only what a map accepts.
    ///
    /// ```
    /// use ferrule_codec::metadata::MetadataMap;
    ///
    /// let mut md = MetadataMap::new();
    /// md.insert("x-id", "1")?;
    /// let mut more = MetadataMap::new();
    /// more.insert("x-id", "2")?;
    /// more.insert_bin("trace-bin", &[7])?;
    /// md.append_map(&more);
    /// assert_eq!(md.get_all("x-id").collect::<Vec<_>>(), ["1", "2"]);
    /// assert_eq!(md.get_bin("trace-bin"), Some(&[7][..]));
    /// # Ok::<(), ferrule_codec::metadata::MetadataError>(())
    /// ```
    pub fn append_map(&mut self, other: &MetadataMap) {
        self.entries.reserve(other.len());
        for (key, value) in other {
            let value = match value {
                MetadataValue::Ascii(text) => NewValue::Ascii(text),
                MetadataValue::Binary(bytes) => NewValue::Binary(bytes),
            };
            self.push(key, value);
        }
    }

    /// Every key/value pair, in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            map: self,
            entries: self.entries.iter(),
        }
    }

    /// Each distinct key once, in the order of first appearance.
    pub fn keys(&self) -> Keys<'_> {
        Keys { map: self, next: 0 }
    }

    /// Builds a map from a received header block.
    ///
    /// See [`push_wire_header`](Self::push_wire_header) for what happens to
    /// each field. The engine bounds the header list size before this runs;
    /// the map never holds more bytes than the fields it was given.
    ///
    /// ```
    /// use ferrule_codec::metadata::MetadataMap;
    ///
    /// let md = MetadataMap::from_wire_headers([
    ///     (&b":path"[..], &b"/svc/Method"[..]),
    ///     (b"grpc-timeout", b"1S"),
    ///     (b"x-id", b"7"),
    ///     (b"trace-bin", b"AAE,AgM="),
    /// ])?;
    /// assert_eq!(md.len(), 3);
    /// assert_eq!(md.get_all_bin("trace-bin").collect::<Vec<_>>(), [&[0, 1][..], &[2, 3]]);
    /// # Ok::<(), ferrule_codec::metadata::MetadataError>(())
    /// ```
    pub fn from_wire_headers<I, N, V>(headers: I) -> Result<MetadataMap, MetadataError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut map = MetadataMap::new();
        for (name, value) in headers {
            map.push_wire_header(name.as_ref(), value.as_ref())?;
        }
        Ok(map)
    }

    /// Adds one received header field.
    ///
    /// - A [reserved](super::is_reserved) name is skipped: the engine reads
    ///   those fields itself.
    /// - Any other name must be a valid lowercase key, else
    ///   [`MetadataError::InvalidKey`].
    /// - A `-bin` value is split on `,` and each piece base64-decoded (padded
    ///   or not) into its own value; bad base64 is
    ///   [`MetadataError::InvalidBase64`].
    /// - An ASCII value loses surrounding spaces and tabs. If what is left is
    ///   printable ASCII it is added; if it is otherwise a valid HTTP field
    ///   value (tabs, bytes >= 0x80) it is dropped, because the spec says such
    ///   values must not fail the call; a control character is
    ///   [`MetadataError::InvalidValue`].
    ///
    /// On error the map is unchanged.
    pub fn push_wire_header(&mut self, name: &[u8], value: &[u8]) -> Result<(), MetadataError> {
        if is_reserved(name) {
            return Ok(());
        }
        let key = core::str::from_utf8(name)
            .ok()
            .filter(|k| is_valid_key(k.as_bytes()))
            .ok_or_else(|| MetadataError::InvalidKey(key_text(name)))?;
        if is_binary_key(name) {
            return self.push_wire_binary(key, value);
        }
        let value = trim_whitespace(value);
        if let Some(ascii) = core::str::from_utf8(value)
            .ok()
            .filter(|v| v.bytes().all(is_printable))
        {
            self.push(key, NewValue::Ascii(ascii));
            Ok(())
        } else if value.iter().all(|&b| is_http_field_byte(b)) {
            Ok(())
        } else {
            Err(MetadataError::InvalidValue {
                key: key_text(name),
                problem: ValueProblem::ControlCharacter,
            })
        }
    }

    fn push_wire_binary(&mut self, key: &str, value: &[u8]) -> Result<(), MetadataError> {
        let (entries, text, binary) = (self.entries.len(), self.text.len(), self.binary.len());
        for piece in value.split(|&b| b == b',') {
            let start = self.binary.len();
            if decode_binary_value(piece, &mut self.binary).is_err() {
                // Undo the pieces already added so the map is unchanged.
                self.entries.truncate(entries);
                self.text.truncate(text);
                self.binary.truncate(binary);
                return Err(MetadataError::InvalidBase64(key_text(key.as_bytes())));
            }
            let value = Span {
                start,
                end: self.binary.len(),
            };
            let key = self.key_span(key);
            self.entries.push(Entry {
                key,
                value,
                binary: true,
            });
        }
        Ok(())
    }

    /// The header fields to send: names, and values with `-bin` values
    /// base64-encoded without padding (one field per value; nothing is
    /// joined). ASCII values are borrowed; binary ones are owned strings the
    /// engine can turn into header values without another copy.
    pub fn wire_headers(&self) -> WireHeaders<'_> {
        WireHeaders {
            map: self,
            entries: self.entries.iter(),
        }
    }

    /// The size of [`wire_headers`](Self::wire_headers) as HTTP/2 counts it
    /// against `SETTINGS_MAX_HEADER_LIST_SIZE`: for each field, name length
    /// plus value length (after base64) plus 32.
    pub fn wire_size(&self) -> usize {
        self.entries.iter().fold(0usize, |total, e| {
            let value = if e.binary {
                encoded_len(e.value.len())
            } else {
                e.value.len()
            };
            total
                .saturating_add(e.key.len())
                .saturating_add(value)
                .saturating_add(FIELD_OVERHEAD)
        })
    }

    fn key_str(&self, e: &Entry) -> &str {
        self.text.get(e.key.start..e.key.end).unwrap_or_default()
    }

    fn key_matches(&self, e: &Entry, key: &str) -> bool {
        self.key_str(e).eq_ignore_ascii_case(key)
    }

    fn value(&self, e: &Entry) -> MetadataValue<'_> {
        if e.binary {
            MetadataValue::Binary(
                self.binary
                    .get(e.value.start..e.value.end)
                    .unwrap_or_default(),
            )
        } else {
            MetadataValue::Ascii(
                self.text
                    .get(e.value.start..e.value.end)
                    .unwrap_or_default(),
            )
        }
    }

    /// The span of `key` in `text`, stored (lowercased) if no entry has it yet.
    /// Only the last entry is checked, so a push costs O(1) whatever the
    /// peer sends; repeated keys usually arrive together anyway.
    fn key_span(&mut self, key: &str) -> Span {
        if let Some(last) = self.entries.last()
            && self.key_matches(last, key)
        {
            return last.key;
        }
        let start = self.text.len();
        self.text
            .extend(key.chars().map(|c| c.to_ascii_lowercase()));
        Span {
            start,
            end: self.text.len(),
        }
    }

    fn store_value(&mut self, value: NewValue<'_>) -> (Span, bool) {
        match value {
            NewValue::Ascii(v) => {
                let start = self.text.len();
                self.text.push_str(v);
                (
                    Span {
                        start,
                        end: self.text.len(),
                    },
                    false,
                )
            }
            NewValue::Binary(v) => {
                let start = self.binary.len();
                self.binary.extend_from_slice(v);
                (
                    Span {
                        start,
                        end: self.binary.len(),
                    },
                    true,
                )
            }
        }
    }

    fn push(&mut self, key: &str, value: NewValue<'_>) {
        let key = self.key_span(key);
        let (value, binary) = self.store_value(value);
        self.entries.push(Entry { key, value, binary });
    }

    fn replace(&mut self, key: &str, value: NewValue<'_>) {
        let Some(first) = self.entries.iter().position(|e| self.key_matches(e, key)) else {
            self.push(key, value);
            return;
        };
        let (span, binary) = self.store_value(value);
        let mut index = 0;
        let mut dead_text = 0;
        let mut dead_binary = 0;
        // The kept entry's key span stays live; a shared span is counted once.
        let mut last_key = self.entries.get(first).map_or(usize::MAX, |e| e.key.start);
        let text = &self.text;
        self.entries.retain_mut(|e| {
            let i = index;
            index += 1;
            let stored = text.get(e.key.start..e.key.end).unwrap_or_default();
            if !stored.eq_ignore_ascii_case(key) {
                return true;
            }
            if e.binary {
                dead_binary += e.value.len();
            } else {
                dead_text += e.value.len();
            }
            if i == first {
                e.value = span;
                e.binary = binary;
                return true;
            }
            if e.key.start != last_key {
                dead_text += e.key.len();
                last_key = e.key.start;
            }
            false
        });
        self.dead_text += dead_text;
        self.dead_binary += dead_binary;
        self.maybe_compact();
    }

    /// Rebuilds the buffers once removed bytes outweigh live ones.
    fn maybe_compact(&mut self) {
        if self.entries.is_empty() {
            self.clear();
            return;
        }
        let wasteful = |dead: usize, total: usize| dead > COMPACT_THRESHOLD && dead * 2 > total;
        if !wasteful(self.dead_text, self.text.len())
            && !wasteful(self.dead_binary, self.binary.len())
        {
            return;
        }
        let old = core::mem::take(self);
        let live_text = old.text.len() - old.dead_text;
        let live_binary = old.binary.len() - old.dead_binary;
        self.entries.reserve_exact(old.entries.len());
        self.text.reserve_exact(live_text);
        self.binary.reserve_exact(live_binary);
        for e in &old.entries {
            let value = match old.value(e) {
                MetadataValue::Ascii(v) => NewValue::Ascii(v),
                MetadataValue::Binary(v) => NewValue::Binary(v),
            };
            self.push(old.key_str(e), value);
        }
    }
}

#[cfg(test)]
impl MetadataMap {
    /// Panics unless the buffers and the dead-byte counts agree with the entries.
    pub(super) fn check_invariants(&self) {
        let mut live_text = 0;
        let mut live_binary = 0;
        let mut previous: Option<&Entry> = None;
        let mut span_starts = Vec::new();
        for e in &self.entries {
            assert!(e.key.start <= e.key.end && e.key.end <= self.text.len());
            if previous.is_none_or(|p| p.key.start != e.key.start) {
                live_text += e.key.len();
                span_starts.push(e.key.start);
            }
            if e.binary {
                assert!(e.value.start <= e.value.end && e.value.end <= self.binary.len());
                live_binary += e.value.len();
            } else {
                assert!(e.value.start <= e.value.end && e.value.end <= self.text.len());
                live_text += e.value.len();
            }
            assert_eq!(e.binary, is_binary_key(self.key_str(e).as_bytes()));
            previous = Some(e);
        }
        assert_eq!(
            live_text + self.dead_text,
            self.text.len(),
            "text accounting"
        );
        assert_eq!(
            live_binary + self.dead_binary,
            self.binary.len(),
            "binary accounting"
        );
    }
}

fn is_printable(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// A byte allowed in an HTTP field value: HTAB, SP, VCHAR or obs-text.
fn is_http_field_byte(b: u8) -> bool {
    b == b'\t' || is_printable(b) || b >= 0x80
}

fn check_user_key(key: &str, binary: bool) -> Result<(), MetadataError> {
    let bytes = key.as_bytes();
    if is_reserved(bytes) {
        return Err(MetadataError::Reserved(key_text(bytes)));
    }
    if !is_valid_user_key(bytes) {
        return Err(MetadataError::InvalidKey(key_text(bytes)));
    }
    if is_binary_key(bytes) != binary {
        return Err(MetadataError::WrongKind(key_text(bytes)));
    }
    Ok(())
}

fn check_user_value(key: &str, value: &str) -> Result<(), MetadataError> {
    let problem = if !value.bytes().all(is_printable) {
        ValueProblem::NotPrintableAscii
    } else if value.starts_with(' ') || value.ends_with(' ') {
        ValueProblem::SurroundingWhitespace
    } else {
        return Ok(());
    };
    Err(MetadataError::InvalidValue {
        key: key_text(key.as_bytes()),
        problem,
    })
}

impl PartialEq for MetadataMap {
    /// Maps are equal when they hold the same keys and values in the same
    /// order (however their buffers are laid out).
    fn eq(&self, other: &MetadataMap) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for MetadataMap {}

impl fmt::Debug for MetadataMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a MetadataMap {
    type Item = (&'a str, MetadataValue<'a>);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a [`MetadataMap`]'s key/value pairs; see [`MetadataMap::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    map: &'a MetadataMap,
    entries: core::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, MetadataValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.entries.next()?;
        Some((self.map.key_str(e), self.map.value(e)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Iterator over the ASCII values of one key; see [`MetadataMap::get_all`].
#[derive(Debug, Clone)]
pub struct GetAll<'a, 'k> {
    map: &'a MetadataMap,
    key: &'k str,
    next: usize,
}

impl<'a> Iterator for GetAll<'a, '_> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while let Some(e) = self.map.entries.get(self.next) {
            self.next += 1;
            if self.map.key_matches(e, self.key)
                && let MetadataValue::Ascii(v) = self.map.value(e)
            {
                return Some(v);
            }
        }
        None
    }
}

/// Iterator over the binary values of one key; see [`MetadataMap::get_all_bin`].
#[derive(Debug, Clone)]
pub struct GetAllBin<'a, 'k> {
    map: &'a MetadataMap,
    key: &'k str,
    next: usize,
}

impl<'a> Iterator for GetAllBin<'a, '_> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while let Some(e) = self.map.entries.get(self.next) {
            self.next += 1;
            if self.map.key_matches(e, self.key)
                && let MetadataValue::Binary(v) = self.map.value(e)
            {
                return Some(v);
            }
        }
        None
    }
}

/// Iterator over the distinct keys; see [`MetadataMap::keys`].
#[derive(Debug, Clone)]
pub struct Keys<'a> {
    map: &'a MetadataMap,
    next: usize,
}

impl<'a> Iterator for Keys<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let entries = &self.map.entries;
        while let Some(e) = entries.get(self.next) {
            let i = self.next;
            self.next += 1;
            let key = self.map.key_str(e);
            let seen = entries
                .get(..i)
                .unwrap_or_default()
                .iter()
                .any(|p| self.map.key_str(p) == key);
            if !seen {
                return Some(self.map.key_str(e));
            }
        }
        None
    }
}

/// Iterator over the header fields to send; see [`MetadataMap::wire_headers`].
#[derive(Debug, Clone)]
pub struct WireHeaders<'a> {
    map: &'a MetadataMap,
    entries: core::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for WireHeaders<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.entries.next()?;
        let value = match self.map.value(e) {
            MetadataValue::Ascii(v) => Cow::Borrowed(v),
            MetadataValue::Binary(v) => {
                let mut encoded = String::with_capacity(encoded_len(v.len()));
                encode_binary_value(v, &mut encoded);
                Cow::Owned(encoded)
            }
        };
        Some((self.map.key_str(e), value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl ExactSizeIterator for WireHeaders<'_> {}

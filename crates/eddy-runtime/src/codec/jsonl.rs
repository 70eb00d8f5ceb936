//! JSON Lines: one object per line, read with the validating scanner of [`crate::json`].
//!
//! [`JsonlReader::read`] hands over a line's members as `(name, value)`: nested objects are
//! flattened to dotted names (`{"a": {"b": 1}}` gives `a.b`), arrays are skipped (they are
//! not columns), names and strings come unescaped. This is how `eddy learn` reads JSONL (the
//! per-event output of `eddy run`, `{..., "features": {"events_5m": 3}}`, gives the columns
//! `features.events_5m`, ...). `eddy run`'s decoder reads the top-level members itself, on
//! the same scanner, and reports syntax errors through the same [`syntax_error`].

use crate::error::{DeadReason, DecodeError};
use crate::json::{self, Kind, Object, SyntaxError};

/// A member's value (a scalar: objects are flattened, arrays skipped).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JsonValue<'a> {
    Null,
    Bool(bool),
    /// A number as written (valid JSON number syntax; `1e999` is valid and parses to infinity).
    Num(&'a str),
    /// A string, escapes resolved.
    Str(&'a str),
}

/// The bad row for a JSON syntax error in `line` (as `eddy run` dead-letters it): reason
/// `malformed` with the byte position, or, for a `NaN`/`Infinity` literal, reason `bad_field`
/// naming the member.
pub fn syntax_error(line: &[u8], lineno: u64, e: &SyntaxError) -> DecodeError {
    match e.non_finite_key {
        Some((s, en)) => DecodeError::with_field(
            lineno,
            String::from_utf8_lossy(line.get(s..en).unwrap_or_default()),
            DeadReason::BadField,
            e.msg,
        ),
        None => DecodeError::new(
            lineno,
            DeadReason::Malformed,
            format!("malformed JSON at byte {}: {}", e.pos + 1, e.msg),
        ),
    }
}

/// The bad row for a line that is not UTF-8.
pub fn utf8_error(lineno: u64) -> DecodeError {
    DecodeError::new(lineno, DeadReason::Malformed, "not valid UTF-8")
}

/// Reads JSON lines into flattened members, reusing its buffers.
#[derive(Debug, Default, Clone)]
pub struct JsonlReader {
    /// The dotted name being built.
    path: String,
    /// An unescaped name.
    key: Vec<u8>,
    /// An unescaped string value.
    val: Vec<u8>,
}

/// Why a walk stopped.
enum Stop {
    Syntax(SyntaxError),
    /// An escape that does not make a character (an unpaired surrogate), at a byte.
    Escape(usize, &'static str),
}

impl JsonlReader {
    pub fn new() -> JsonlReader {
        JsonlReader::default()
    }

    /// Reads one line (its `\n`/`\r\n` ending, if any, is whitespace to the scanner), calling
    /// `member(name, value)` for each member in line order, nested objects flattened.
    ///
    /// A line that is not exactly one valid JSON object (or not UTF-8) is a bad row with
    /// reason `malformed` (a `NaN`/`Infinity` literal: `bad_field`); members handed over
    /// before the error was found are then to be dropped.
    pub fn read<F>(&mut self, line: &[u8], lineno: u64, mut member: F) -> Result<(), DecodeError>
    where
        F: FnMut(&str, JsonValue<'_>),
    {
        if !json::is_ascii(line) && std::str::from_utf8(line).is_err() {
            return Err(utf8_error(lineno));
        }
        self.path.clear();
        match self.walk(line, 0, line.len(), &mut member) {
            Ok(()) => Ok(()),
            Err(Stop::Syntax(e)) => Err(syntax_error(line, lineno, &e)),
            Err(Stop::Escape(pos, msg)) => Err(DecodeError::new(
                lineno,
                DeadReason::Malformed,
                format!("malformed JSON at byte {}: {msg}", pos + 1),
            )),
        }
    }

    /// Walks the object at `line[start..end]`, `self.path` holding its dotted name (empty at
    /// the top). Error positions are in `line`.
    fn walk<F>(&mut self, line: &[u8], start: usize, end: usize, member: &mut F) -> Result<(), Stop>
    where
        F: FnMut(&str, JsonValue<'_>),
    {
        let b = &line[start..end];
        let at = |mut e: SyntaxError| {
            e.pos += start;
            e.non_finite_key = e.non_finite_key.map(|(s, en)| (s + start, en + start));
            Stop::Syntax(e)
        };
        let mut obj = Object::open(b).map_err(at)?;
        while let Some((ks, ke, _)) = obj.name(&[]).map_err(at)? {
            let (kind, vs, ve) = obj.value().map_err(at)?;
            let depth = self.path.len();
            if depth > 0 {
                self.path.push('.');
            }
            let raw = &b[ks..ke];
            if memchr::memchr(b'\\', raw).is_some() {
                json::unescape(raw, &mut self.key).map_err(|m| Stop::Escape(start + ks, m))?;
                push_utf8(&mut self.path, &self.key);
            } else {
                push_utf8(&mut self.path, raw);
            }
            let v = &b[vs..ve];
            let value = match kind {
                Kind::Array => {
                    self.path.truncate(depth);
                    continue;
                }
                Kind::Object => {
                    self.walk(line, start + vs, start + ve, member)?;
                    self.path.truncate(depth);
                    continue;
                }
                Kind::Null => JsonValue::Null,
                Kind::Bool(x) => JsonValue::Bool(x),
                Kind::Num { .. } => JsonValue::Num(as_str(v)),
                Kind::Str { escaped: false } => JsonValue::Str(as_str(v)),
                Kind::Str { escaped: true } => {
                    json::unescape(v, &mut self.val).map_err(|m| Stop::Escape(start + vs, m))?;
                    JsonValue::Str(as_str(&self.val))
                }
            };
            member(&self.path, value);
            self.path.truncate(depth);
        }
        Ok(())
    }
}

/// Bytes of a line checked to be UTF-8, cut at ASCII delimiters (or unescaped from such).
#[inline]
fn as_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

#[inline]
fn push_utf8(s: &mut String, b: &[u8]) {
    s.push_str(as_str(b));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(line: &str) -> Result<Vec<(String, String)>, DecodeError> {
        let mut r = JsonlReader::new();
        let mut out = Vec::new();
        r.read(line.as_bytes(), 7, |n, v| {
            out.push((n.to_string(), format!("{v:?}")))
        })?;
        Ok(out)
    }

    #[test]
    fn flattens_nested_objects_and_skips_arrays() {
        let got = members(
            r#"{"id":"e1","features":{"n_5m":3,"sum":{"a":1.5}},"last":[1,2],"ok":true,"z":null,"s\u00e9":"caf\u00e9"}"#,
        )
        .unwrap();
        let want: Vec<(String, String)> = [
            ("id", r#"Str("e1")"#),
            ("features.n_5m", r#"Num("3")"#),
            ("features.sum.a", r#"Num("1.5")"#),
            ("ok", "Bool(true)"),
            ("z", "Null"),
            ("sé", r#"Str("café")"#),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(members(" {} \r\n").unwrap(), vec![]);
    }

    #[test]
    fn bad_lines_are_malformed_with_a_position() {
        let e = members("not json").unwrap_err();
        assert_eq!(
            (e.line, e.reason, e.field.as_deref()),
            (7, DeadReason::Malformed, None)
        );
        assert!(e.msg.starts_with("malformed JSON at byte 1: "), "{e}");
        let e = members(r#"{"a":{"b":1,}}"#).unwrap_err();
        assert!(e.msg.starts_with("malformed JSON at byte"), "{e}");
        let e = members(r#"{"a":"\ud800"}"#).unwrap_err();
        assert!(e.msg.contains("surrogate"), "{e}");
        let e = members(r#"{"a":1,"x":NaN}"#).unwrap_err();
        assert_eq!(
            (e.reason, e.field.as_deref()),
            (DeadReason::BadField, Some("x"))
        );
        assert_eq!(members("{\"a\":\"\u{ff}\"}").map(|_| ()), Ok(()));
        let mut r = JsonlReader::new();
        let e = r.read(b"{\"a\":\"\xff\"}", 3, |_, _| {}).unwrap_err();
        assert_eq!(e.to_string(), "line 3: not valid UTF-8");
    }
}

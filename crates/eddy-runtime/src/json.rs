//! A small validating JSON scanner for one-object-per-line input.
//!
//! It walks a line once, hands each top-level member's key and value span to the caller,
//! skips (but still validates) nested values, and refuses anything that is not exactly one
//! JSON object. No allocation except when a string with escapes must be unescaped.

/// What a top-level value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string; `escaped` says whether it holds backslash escapes.
    Str {
        escaped: bool,
    },
    /// A number; `int` when it has no fraction or exponent.
    Num {
        int: bool,
    },
    Bool(bool),
    Null,
    Object,
    Array,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Str { .. } => "a string",
            Kind::Num { int: true } => "an integer",
            Kind::Num { int: false } => "a float",
            Kind::Bool(_) => "a boolean",
            Kind::Null => "null",
            Kind::Object => "an object",
            Kind::Array => "an array",
        }
    }
}

/// A syntax error at a byte position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: usize,
    pub msg: &'static str,
    /// A non-finite literal (`NaN`, `Infinity`) in value position, and the key it belongs to.
    pub non_finite_key: Option<(usize, usize)>,
}

const MAX_DEPTH: usize = 128;

/// Scans `b` as one JSON object, calling `member(key, kind, value_span)` for each top-level
/// member. `key` is the raw key bytes (between the quotes, escapes not resolved);
/// `value_span` is the value's bytes (strings without their quotes).
/// The callback may stop the scan early by returning `Err(())`; the scan then returns `Ok(false)`.
pub fn scan_object<F>(b: &[u8], mut member: F) -> Result<bool, SyntaxError>
where
    F: FnMut(&[u8], Kind, &[u8]) -> Result<(), ()>,
{
    let mut obj = Object::open(b)?;
    while let Some((ks, ke, _)) = obj.name(&[])? {
        let (kind, vs, ve) = obj.value()?;
        if member(&b[ks..ke], kind, &b[vs..ve]).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A cursor over the top-level members of one JSON object (the line), validating as it goes:
/// [`Object::name`] then [`Object::value`] for each member, until `name` returns `None` (the
/// closing `}` and the rest of the line checked). The caller may stop at any member; the rest
/// of the line is then not looked at. Errors are those (and at the positions) of
/// [`scan_object`].
pub struct Object<'a> {
    s: Scanner<'a>,
    /// No member read yet (just after `{`).
    first: bool,
    /// The span of the last member name, for [`SyntaxError::non_finite_key`].
    key: (usize, usize),
}

impl<'a> Object<'a> {
    /// Starts at the line's opening `{`.
    #[inline]
    pub fn open(b: &'a [u8]) -> Result<Self, SyntaxError> {
        let mut s = Scanner { b, i: 0 };
        s.ws();
        if s.peek() != Some(b'{') {
            return Err(s.err(if s.i >= b.len() {
                "empty line"
            } else {
                "expected a JSON object starting with `{`"
            }));
        }
        s.i += 1;
        s.ws();
        Ok(Object {
            s,
            first: true,
            key: (0, 0),
        })
    }

    /// Reads the next member's name and its `:`, returning the name's raw span (between the
    /// quotes) and whether it is the guess, or `None` at the end of the object.
    ///
    /// `expect` is a guess at the raw name followed by its closing quote and the colon
    /// (`name":`), or empty: when the line has exactly those bytes there, the name is not
    /// scanned byte by byte. The guess must hold no `"`, `\` or control byte before its final
    /// quote.
    #[inline]
    pub fn name(&mut self, expect: &[u8]) -> Result<Option<(usize, usize, bool)>, SyntaxError> {
        let s = &mut self.s;
        if self.first {
            self.first = false;
            if s.peek() == Some(b'}') {
                s.i += 1;
                return s.end().map(|()| None);
            }
        } else {
            // Compact JSON: `,"` (checked again below, as ever, when it is not).
            match s.b.get(s.i..s.i + 2) {
                Some(b",\"") => s.i += 1,
                _ => {
                    s.ws();
                    match s.peek() {
                        Some(b',') => s.i += 1,
                        Some(b'}') => {
                            s.i += 1;
                            return s.end().map(|()| None);
                        }
                        None => return Err(s.err("unterminated object (missing `}`)")),
                        _ => return Err(s.err("expected `,` or `}` after a member")),
                    }
                    s.ws();
                }
            }
        }
        if s.peek() != Some(b'"') {
            return Err(s.err("expected a quoted member name"));
        }
        let ks = s.i + 1;
        debug_assert!(expect.is_empty() || expect.ends_with(b"\":"));
        if !expect.is_empty() {
            if let Some(x) = s.b.get(ks..ks + expect.len()) {
                if eq_bytes(x, expect) {
                    s.i = ks + expect.len();
                    s.ws();
                    let ke = ks + expect.len() - 2;
                    self.key = (ks, ke);
                    return Ok(Some((ks, ke, true)));
                }
            }
        }
        let ke = s.string()?.1;
        s.ws();
        if s.peek() != Some(b':') {
            return Err(s.err("expected `:` after a member name"));
        }
        s.i += 1;
        s.ws();
        self.key = (ks, ke);
        Ok(Some((ks, ke, false)))
    }

    /// Reads the value of the member just named: its kind and span (strings: inside the
    /// quotes).
    #[inline]
    pub fn value(&mut self) -> Result<(Kind, usize, usize), SyntaxError> {
        // Strings, the common case, without a call.
        match self.s.peek() {
            Some(b'"') => {
                let (vs, ve, escaped) = self.s.string()?;
                Ok((Kind::Str { escaped }, vs, ve))
            }
            Some(b'0'..=b'9') => {
                let start = self.s.i;
                let int = self.s.number()?;
                Ok((Kind::Num { int }, start, self.s.i))
            }
            _ => self.value_slow(),
        }
    }

    #[inline(never)]
    fn value_slow(&mut self) -> Result<(Kind, usize, usize), SyntaxError> {
        match self.s.value(0) {
            Ok(x) => Ok(x),
            Err(mut e) => {
                if e.msg == NON_FINITE {
                    e.non_finite_key = Some(self.key);
                }
                Err(e)
            }
        }
    }
}

/// Byte equality for short slices, a word at a time and without a `memcmp` call.
#[inline]
pub fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        load8(a, 0) == load8(b, 0)
            && load8(a, n - 8) == load8(b, n - 8)
            && (n <= 16 || a[8..n - 8] == b[8..n - 8])
    } else if n >= 4 {
        load4(a, 0) == load4(b, 0) && load4(a, n - 4) == load4(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// Whether every byte is ASCII, a word at a time (lines are a few hundred bytes: no tail loop).
#[inline]
pub fn is_ascii(b: &[u8]) -> bool {
    const HI: u64 = 0x8080_8080_8080_8080;
    let n = b.len();
    if n < 8 {
        return b.iter().all(|c| c.is_ascii());
    }
    let mut acc = load8(b, n - 8);
    let mut i = 0;
    while i + 8 <= n {
        acc |= load8(b, i);
        i += 8;
    }
    acc & HI == 0
}

/// The 8 bytes of `b` at `i` as a little-endian word (`i + 8 <= b.len()`).
#[inline]
pub fn load8(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The 4 bytes of `b` at `i` as a little-endian word (`i + 4 <= b.len()`).
#[inline]
pub fn load4(b: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(w)
}

/// Bytes that end the fast path inside a string when reading, and that must be escaped when
/// writing: `"`, `\\` and control characters.
static STRING_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Skips plain string bytes eight at a time (SWAR): returns the position of the first `"`,
/// `\\` or control byte at or after `i`, or a position less than 8 bytes from the end.
#[inline]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        let x = load8(b, i);
        let quote = x ^ (LO * b'"' as u64);
        let backslash = x ^ (LO * b'\\' as u64);
        // A byte is flagged when it is zero after the xor, or below 0x20; only the lowest
        // flag is exact (borrows may flag bytes above it), and only the lowest is used.
        let m = (quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (x.wrapping_sub(LO * 0x20) & !x);
        let m = m & HI;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i
}

const NON_FINITE: &str = "NaN and infinite numbers are not allowed";

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn err(&self, msg: &'static str) -> SyntaxError {
        SyntaxError {
            pos: self.i,
            msg,
            non_finite_key: None,
        }
    }

    /// After the closing `}`: only whitespace may follow.
    fn end(&mut self) -> Result<(), SyntaxError> {
        self.ws();
        if self.i != self.b.len() {
            return Err(self.err("unexpected data after the closing `}`"));
        }
        Ok(())
    }

    #[inline(always)]
    fn ws(&mut self) {
        // Compact JSON has no whitespace between tokens: one test.
        match self.b.get(self.i) {
            Some(&c) if c > b' ' => return,
            None => return,
            _ => {}
        }
        self.ws_slow();
    }

    #[cold]
    fn ws_slow(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\r' || c == b'\n' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// At an opening quote; returns the content span and whether it has escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<(usize, usize, bool), SyntaxError> {
        let start = self.i + 1;
        let end = skip_plain(self.b, start);
        if self.b.get(end) == Some(&b'"') {
            self.i = end + 1;
            return Ok((start, end, false));
        }
        self.i = end;
        self.string_slow(start)
    }

    /// [`Scanner::string`] past its plain prefix (at `self.i`).
    #[inline(never)]
    fn string_slow(&mut self, start: usize) -> Result<(usize, usize, bool), SyntaxError> {
        let mut escaped = false;
        loop {
            self.i = skip_plain(self.b, self.i);
            let rest = &self.b[self.i..];
            let Some(off) = rest.iter().position(|&c| STRING_SPECIAL[c as usize]) else {
                self.i = self.b.len();
                return Err(self.err("unterminated string"));
            };
            self.i += off;
            match self.b[self.i] {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    return Ok((start, end, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            let hex = self.b.get(self.i + 1..self.i + 5);
                            match hex {
                                Some(h) if h.iter().all(|c| c.is_ascii_hexdigit()) => self.i += 5,
                                _ => return Err(self.err("invalid \\u escape in a string")),
                            }
                        }
                        _ => return Err(self.err("invalid escape in a string")),
                    }
                }
                _ => return Err(self.err("control character inside a string")),
            }
        }
    }

    #[inline]
    fn number(&mut self) -> Result<bool, SyntaxError> {
        let b = self.b;
        let mut int = true;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            Some(b'I') | Some(b'i') | Some(b'N') | Some(b'n') => {
                return Err(self.err(NON_FINITE));
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            int = false;
            self.i += 1;
            let s = self.i;
            while matches!(b.get(self.i), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if s == self.i {
                return Err(self.err("invalid number: no digits after `.`"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            int = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let s = self.i;
            while matches!(b.get(self.i), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            if s == self.i {
                return Err(self.err("invalid number: no digits in the exponent"));
            }
        }
        Ok(int)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), SyntaxError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.err("invalid literal (expected true, false or null)"))
        }
    }

    /// Scans a value; returns its kind and span (strings: inside the quotes).
    fn value(&mut self, depth: usize) -> Result<(Kind, usize, usize), SyntaxError> {
        let start = self.i;
        match self.peek() {
            Some(b'"') => {
                let (s, e, escaped) = self.string()?;
                Ok((Kind::Str { escaped }, s, e))
            }
            Some(b'-' | b'0'..=b'9') => {
                let int = self.number()?;
                Ok((Kind::Num { int }, start, self.i))
            }
            Some(b't') => {
                self.literal(b"true")?;
                Ok((Kind::Bool(true), start, self.i))
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Ok((Kind::Bool(false), start, self.i))
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Ok((Kind::Null, start, self.i))
            }
            Some(b'N' | b'I') => Err(self.err(NON_FINITE)),
            Some(b'{') => {
                self.nested(b'}', depth + 1)?;
                Ok((Kind::Object, start, self.i))
            }
            Some(b'[') => {
                self.nested(b']', depth + 1)?;
                Ok((Kind::Array, start, self.i))
            }
            None => Err(self.err("missing value")),
            _ => Err(self.err("invalid value")),
        }
    }

    /// At `{` or `[`: validates the nested object or array.
    fn nested(&mut self, close: u8, depth: usize) -> Result<(), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let object = close == b'}';
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if object {
                if self.peek() != Some(b'"') {
                    return Err(self.err("expected a quoted member name"));
                }
                self.string()?;
                self.ws();
                if self.peek() != Some(b':') {
                    return Err(self.err("expected `:` after a member name"));
                }
                self.i += 1;
                self.ws();
            }
            self.value(depth)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                None => return Err(self.err("unterminated object or array")),
                _ => return Err(self.err("expected `,` or a closing bracket")),
            }
        }
    }
}

/// Resolves the escapes of a JSON string body into `out`. `s` must have passed the scanner.
pub fn unescape(s: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    out.clear();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = s[i + 1];
        i += 2;
        let ch = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hex = |j: usize| -> u32 {
                    let h = std::str::from_utf8(&s[j..j + 4]).unwrap_or("0");
                    u32::from_str_radix(h, 16).unwrap_or(0)
                };
                let mut cp = hex(i);
                i += 4;
                if (0xD800..0xDC00).contains(&cp) {
                    if s.len() >= i + 6 && s[i] == b'\\' && s[i + 1] == b'u' {
                        let lo = hex(i + 2);
                        if (0xDC00..0xE000).contains(&lo) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            i += 6;
                        } else {
                            return Err("unpaired surrogate in a \\u escape");
                        }
                    } else {
                        return Err("unpaired surrogate in a \\u escape");
                    }
                } else if (0xDC00..0xE000).contains(&cp) {
                    return Err("unpaired surrogate in a \\u escape");
                }
                let ch = char::from_u32(cp).ok_or("invalid \\u escape")?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return Err("invalid escape"),
        };
        out.push(ch);
    }
    Ok(())
}

/// Appends `s` as a JSON string literal (with quotes) to `out`.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    match s.iter().position(|&c| STRING_SPECIAL[c as usize]) {
        None => out.extend_from_slice(s),
        Some(first) => {
            out.extend_from_slice(&s[..first]);
            write_escaped(out, &s[first..]);
        }
    }
    out.push(b'"');
}

#[cold]
fn write_escaped(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&s[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(line: &str) -> Result<Vec<(String, Kind, String)>, SyntaxError> {
        let mut v = Vec::new();
        scan_object(line.as_bytes(), |k, kind, val| {
            v.push((
                String::from_utf8(k.to_vec()).unwrap(),
                kind,
                String::from_utf8(val.to_vec()).unwrap(),
            ));
            Ok(())
        })?;
        Ok(v)
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        let ok = [
            r#"{}"#,
            r#" { "a" : 1 , "b":[1,2,{"c":null}], "d":"x\"y\u00e9", "e":-0.5e+3, "f":true, "g":false } "#,
            r#"{"nested":{"a":{"b":[[],{}]}}}"#,
            "{\"s\":\"caf\u{e9}\"}",
        ];
        for line in ok {
            assert!(serde_json::from_str::<serde_json::Value>(line).is_ok());
            members(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
        }
        let m = members(ok[1]).unwrap();
        assert_eq!(m.len(), 6);
        assert_eq!(m[0], ("a".into(), Kind::Num { int: true }, "1".into()));
        assert_eq!(m[2].1, Kind::Str { escaped: true });
        assert_eq!(
            m[3],
            ("e".into(), Kind::Num { int: false }, "-0.5e+3".into())
        );
        assert_eq!(m[1].1, Kind::Array);
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        let bad = [
            "",
            "{",
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{"a":"x\q"}"#,
            r#"{"a":"x\u12"}"#,
            "{\"a\":\"x\ty\"}",
            r#"{"a":1} x"#,
            r#"{"a":[1,2}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":NaN}"#,
            r#"{"a":-Infinity}"#,
            r#"{"a":+1}"#,
        ];
        for line in bad {
            assert!(
                serde_json::from_str::<serde_json::Value>(line).is_err(),
                "serde accepts {line}"
            );
            assert!(members(line).is_err(), "scanner accepts {line}");
        }
        // Valid JSON, but not one object per line.
        assert!(members("[1]").is_err());
        assert!(members("1").is_err());
        let e = members(r#"{"x":1,"amount":NaN}"#).unwrap_err();
        assert_eq!(e.msg, NON_FINITE);
        let (s, en) = e.non_finite_key.unwrap();
        assert_eq!(&r#"{"x":1,"amount":NaN}"#[s..en], "amount");
    }

    #[test]
    fn skip_plain_finds_the_first_special_byte() {
        for len in 0..40 {
            for pos in 0..len {
                for special in [b'"', b'\\', 0x01, 0x1f] {
                    let mut v: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    // Non-ASCII and DEL bytes are plain.
                    if len > 3 {
                        v[len - 1] = 0xc3;
                        v[0] = 0x7f;
                    }
                    v[pos] = special;
                    let got = super::skip_plain(&v, 0);
                    assert!(got <= pos, "len {len} pos {pos}: {got}");
                    assert!(v[got..pos].iter().all(|&c| !STRING_SPECIAL[c as usize]));
                    assert!(pos - got < 8 || got == pos, "len {len} pos {pos}: {got}");
                }
            }
        }
    }

    #[test]
    fn unescape_and_write_round_trip() {
        let mut out = Vec::new();
        unescape(br#"a\"b\\c\nd\u00e9\ud83d\ude00"#, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "a\"b\\c\nd\u{e9}\u{1F600}"
        );
        let mut w = Vec::new();
        write_str(&mut w, "q\"\u{1}\n".as_bytes());
        let back: String = serde_json::from_slice(&w).unwrap();
        assert_eq!(back, "q\"\u{1}\n");
        assert!(unescape(br#"\ud83d"#, &mut out).is_err());
    }

    mod differential {
        use super::super::scan_object;
        use proptest::prelude::*;

        fn ours(s: &str) -> bool {
            scan_object(s.as_bytes(), |_, _, _| Ok(())).is_ok()
        }

        /// The scanner accepts a line exactly when serde_json parses it to an object.
        fn agree(s: &str) -> Result<(), TestCaseError> {
            match serde_json::from_str::<serde_json::Value>(s) {
                Ok(v) => prop_assert_eq!(ours(s), v.is_object(), "line {:?}", s),
                // serde_json refuses numbers beyond f64 and lone surrogates while parsing;
                // the scanner checks syntax and leaves values to the decoder.
                Err(e) if e.to_string().contains("out of range") => {}
                Err(e) if e.to_string().contains("surrogate") => {}
                Err(_) => prop_assert!(!ours(s), "scanner accepts {:?}", s),
            }
            Ok(())
        }

        const VALID: &str = r#"{"a":1,"b":[true,false,null,{"c":-0.5e3}],"d":"x\"y","e":{}}"#;

        #[test]
        fn the_mutated_line_is_valid() {
            assert!(ours(VALID));
            assert!(serde_json::from_str::<serde_json::Value>(VALID).is_ok());
        }

        /// Members as scanned with a guess at every name, or the scan's error.
        fn guessed(
            s: &str,
            guess: &[u8],
        ) -> Result<Vec<(usize, usize, usize, usize)>, super::super::SyntaxError> {
            let mut obj = super::super::Object::open(s.as_bytes())?;
            let mut v = Vec::new();
            while let Some((ks, ke, guessed)) = obj.name(guess)? {
                let (_, vs, ve) = obj.value()?;
                // A guess is taken only when the name is the guess.
                if guessed {
                    assert_eq!([&s.as_bytes()[ks..ke], b"\":"].concat(), guess);
                }
                v.push((ks, ke, vs, ve));
            }
            Ok(v)
        }

        proptest! {
            #[test]
            fn guessed_names_change_nothing(s in r#"[{}\[\]":, ab01\-.eE\\ntrufls]{0,40}"#,
                                            guess in prop::sample::select(vec!["a\":", "ab\":", "b\":", "\":", "e\":", "d\":"])) {
                prop_assert_eq!(guessed(&s, guess.as_bytes()), guessed(&s, b""));
            }

            #[test]
            fn guessed_names_on_valid_lines(pos in 0usize..VALID.len(), del in any::<bool>(),
                                   c in prop::sample::select(vec!['{', '}', '"', ':', ',', '1', 'a', 'b', '\\', ' '])) {
                let mut s = VALID.to_string();
                if del {
                    s.remove(pos);
                } else {
                    s.insert(pos, c);
                }
                for guess in ["a\":", "b\":", "d\":", "e\":"] {
                    prop_assert_eq!(guessed(&s, guess.as_bytes()), guessed(&s, b""));
                }
            }

            #[test]
            fn is_ascii_is_std(mut v in prop::collection::vec(0u8..128, 0..80), at in any::<prop::sample::Index>(), high in 128u8..=255) {
                prop_assert_eq!(super::super::is_ascii(&v), v.is_ascii());
                if !v.is_empty() {
                    let i = at.index(v.len());
                    v[i] = high;
                    prop_assert_eq!(super::super::is_ascii(&v), v.is_ascii());
                }
            }

            #[test]
            fn eq_bytes_is_slice_equality(a in prop::collection::vec(0u8..4, 0..40), b in prop::collection::vec(0u8..4, 0..40)) {
                prop_assert_eq!(super::super::eq_bytes(&a, &b), a == b);
                prop_assert!(super::super::eq_bytes(&a, &a.clone()));
            }

            #[test]
            fn random_lines(s in r#"[{}\[\]":, ab01\-.eE\\ntrufls]{0,40}"#) {
                agree(&s)?;
            }

            #[test]
            fn mutated_valid_lines(pos in 0usize..VALID.len(), del in any::<bool>(),
                                   c in prop::sample::select(vec!['{', '}', '[', ']', '"', ':', ',', '1', '-', '.', 'e', '\\', ' ', 'x'])) {
                let mut s = VALID.to_string();
                if del {
                    s.remove(pos);
                } else {
                    s.insert(pos, c);
                }
                agree(&s)?;
            }
        }
    }
}

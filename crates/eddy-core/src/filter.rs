//! Feature filters: `field == value`, `!=`, `<`, `<=`, `>`, `>=`, `field in [a, b]`,
//! combined with `and` / `or` (and binding tighter than or) and parentheses.
//!
//! Grammar (recursive descent):
//! ```text
//! expr    := and ('or' and)*
//! and     := atom ('and' atom)*
//! atom    := '(' expr ')' | field op literal | field 'in' '[' literal (',' literal)* ']'
//! op      := '==' | '!=' | '<' | '<=' | '>' | '>='
//! literal := "string" | 'string' | number | true | false
//! ```
//! Positions in error messages are 1-based character columns.
//!
//! A filter may nest parentheses at most [`MAX_DEPTH`] deep and hold at most [`MAX_TERMS`]
//! comparisons: the parser recurses once per parenthesis, and a bound keeps a hostile or
//! generated spec from overflowing the stack. `and` / `or` chains are kept flat (one node
//! per chain), so evaluating a filter recurses no deeper than its parentheses.

use crate::{CoreError, Event, FieldId, FieldType, Interner, Schema, Sym, Value};
use std::cmp::Ordering;

/// The deepest parenthesis nesting a filter may have.
pub const MAX_DEPTH: usize = 64;

/// The most comparisons (`field op value` or `field in [...]`) a filter may hold.
pub const MAX_TERMS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A parsed filter. String literals are interned at parse time so matching compares ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp {
        field: FieldId,
        op: CmpOp,
        value: Value,
    },
    In {
        field: FieldId,
        values: Vec<Value>,
    },
    /// Two or more filters that must all pass (a flat chain, tested left to right).
    And(Vec<Filter>),
    /// Two or more filters of which one must pass (a flat chain, tested left to right).
    Or(Vec<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Num(s) => format!("number `{s}`"),
            Tok::Op(o) => format!("`{}`", o.symbol()),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::End => "end of input".into(),
        }
    }
}

struct Parser<'a> {
    expr: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    schema: &'a Schema,
    interner: &'a mut Interner,
    /// Parentheses open at the current token.
    depth: usize,
    /// Comparisons read so far.
    terms: usize,
}

fn lex(expr: &str) -> Result<Vec<(Tok, usize)>, (String, usize)> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two = |n: char| chars.get(i + 1) == Some(&n);
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            '=' if two('=') => (Tok::Op(CmpOp::Eq), 2),
            '!' if two('=') => (Tok::Op(CmpOp::Ne), 2),
            '<' if two('=') => (Tok::Op(CmpOp::Le), 2),
            '>' if two('=') => (Tok::Op(CmpOp::Ge), 2),
            '<' => (Tok::Op(CmpOp::Lt), 1),
            '>' => (Tok::Op(CmpOp::Gt), 1),
            '=' => return Err(("`==` (a single `=` is not an operator)".into(), col)),
            '"' | '\'' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err((format!("a closing {c} for the string"), col)),
                        Some('\\') => {
                            match chars.get(j + 1) {
                                Some(&e) => s.push(e),
                                None => return Err((format!("a closing {c} for the string"), col)),
                            }
                            j += 2;
                        }
                        Some(&d) if d == c => break,
                        Some(&d) => {
                            s.push(d);
                            j += 1;
                        }
                    }
                }
                (Tok::Str(s), j + 1 - i)
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let mut j = i + 1;
                while let Some(&d) = chars.get(j) {
                    let exp_sign =
                        (d == '-' || d == '+') && matches!(chars.get(j - 1), Some('e' | 'E'));
                    if d.is_ascii_alphanumeric() || d == '.' || d == '_' || exp_sign {
                        j += 1;
                    } else {
                        break;
                    }
                }
                (Tok::Num(chars[i..j].iter().collect()), j - i)
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while let Some(&d) = chars.get(j) {
                    if d.is_alphanumeric() || d == '_' || d == '.' {
                        j += 1;
                    } else {
                        break;
                    }
                }
                (Tok::Ident(chars[i..j].iter().collect()), j - i)
            }
            other => {
                return Err((
                    format!("a field, operator, value or parenthesis, found `{other}`"),
                    col,
                ))
            }
        };
        out.push((tok, col));
        i += len;
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }

    fn col(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn err(&self, msg: String) -> CoreError {
        CoreError::Filter {
            expr: self.expr.to_string(),
            msg,
        }
    }

    /// An error for a filter over a size limit: such a filter may be megabytes long, so the
    /// message quotes only its start.
    fn too_big(&self, msg: String) -> CoreError {
        const SHOWN: usize = 40;
        let mut expr: String = self.expr.chars().take(SHOWN).collect();
        if self.expr.chars().nth(SHOWN).is_some() {
            expr.push('…');
        }
        CoreError::Filter { expr, msg }
    }

    fn expected(&self, what: &str) -> CoreError {
        self.err(format!(
            "expected {what} at position {}, found {}",
            self.col(),
            self.peek().describe()
        ))
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == kw)
    }

    fn parse_or(&mut self) -> Result<Filter, CoreError> {
        let first = self.parse_and()?;
        if !self.is_kw("or") {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.is_kw("or") {
            self.bump();
            all.push(self.parse_and()?);
        }
        Ok(Filter::Or(all))
    }

    fn parse_and(&mut self) -> Result<Filter, CoreError> {
        let first = self.parse_atom()?;
        if !self.is_kw("and") {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.is_kw("and") {
            self.bump();
            all.push(self.parse_atom()?);
        }
        Ok(Filter::And(all))
    }

    fn parse_atom(&mut self) -> Result<Filter, CoreError> {
        if *self.peek() == Tok::LParen {
            if self.depth == MAX_DEPTH {
                return Err(self.too_big(format!(
                    "parentheses nest deeper than {MAX_DEPTH} levels at position {}",
                    self.col()
                )));
            }
            self.depth += 1;
            self.bump();
            let inner = self.parse_or()?;
            if *self.peek() != Tok::RParen {
                return Err(self.expected("`)`, `and` or `or`"));
            }
            self.bump();
            self.depth -= 1;
            return Ok(inner);
        }
        let col = self.col();
        if self.terms == MAX_TERMS {
            return Err(self.too_big(format!(
                "more than {MAX_TERMS} comparisons (the next starts at position {col})"
            )));
        }
        self.terms += 1;
        let name = match self.peek() {
            Tok::Ident(s) if !matches!(s.as_str(), "and" | "or" | "in" | "true" | "false") => {
                s.clone()
            }
            _ => return Err(self.expected("a field name or `(`")),
        };
        let Some(field) = self.schema.field_id(&name) else {
            let known: Vec<&str> = (0..self.schema.len())
                .map(|i| self.schema.name(i))
                .collect();
            return Err(self.err(format!(
                "unknown field `{name}` at position {col}; known fields: {}",
                if known.is_empty() {
                    "(none)".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        self.bump();
        let ty = self.schema.field_type(field);
        if self.is_kw("in") {
            self.bump();
            if *self.peek() != Tok::LBracket {
                return Err(self.expected("`[` after `in`"));
            }
            self.bump();
            let mut values = Vec::new();
            loop {
                values.push(self.literal(&name, ty)?);
                match self.peek() {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RBracket => {
                        self.bump();
                        break;
                    }
                    _ => return Err(self.expected("`,` or `]`")),
                }
            }
            return Ok(Filter::In { field, values });
        }
        let op = match self.peek() {
            Tok::Op(op) => *op,
            _ => {
                return Err(self.expected(
                    "an operator (`==`, `!=`, `<`, `<=`, `>`, `>=` or `in`) after the field",
                ))
            }
        };
        let op_col = self.col();
        self.bump();
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) && matches!(ty, FieldType::String | FieldType::Bool)
        {
            return Err(self.err(format!(
                "`{}` at position {op_col} needs a numeric field, but `{name}` is a {}; use `==`, `!=` or `in`",
                op.symbol(),
                type_name(ty)
            )));
        }
        let value = self.literal(&name, ty)?;
        Ok(Filter::Cmp { field, op, value })
    }

    fn literal(&mut self, name: &str, ty: FieldType) -> Result<Value, CoreError> {
        let col = self.col();
        let tok = self.peek().clone();
        let mismatch = |p: &Self, found: &str| {
            p.err(format!(
                "field `{name}` is a {}, but the value at position {col} is {found}",
                type_name(ty)
            ))
        };
        let v = match (&tok, ty) {
            (Tok::Str(s), FieldType::String) => Value::Str(self.interner.intern(s)),
            (Tok::Str(_), _) => return Err(mismatch(self, "a string")),
            (Tok::Ident(b), FieldType::Bool) if b == "true" || b == "false" => {
                Value::Bool(b == "true")
            }
            (Tok::Ident(b), _) if b == "true" || b == "false" => {
                return Err(mismatch(self, "a boolean"))
            }
            (Tok::Num(n), FieldType::Int) => match n.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => {
                    return Err(self.err(format!(
                        "field `{name}` is an integer, but `{n}` at position {col} is not a whole number in range"
                    )))
                }
            },
            (Tok::Num(n), FieldType::Float) => match n.parse::<f64>() {
                Ok(f) if f.is_finite() => Value::Float(f),
                _ => {
                    return Err(self.err(format!(
                        "`{n}` at position {col} is not a finite number"
                    )))
                }
            },
            (Tok::Num(_), _) => return Err(mismatch(self, "a number")),
            _ => {
                return Err(self.expected(&format!(
                    "a {} value for field `{name}`",
                    type_name(ty)
                )))
            }
        };
        self.bump();
        Ok(v)
    }
}

fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Bool => "boolean",
        FieldType::Int => "integer",
        FieldType::Float => "float",
        FieldType::String => "string",
    }
}

/// Compares an event value with a literal; `None` when they are not comparable.
fn compare(a: Value, b: Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(&y)),
        (Value::Str(x), Value::Str(y)) => (x == y).then_some(Ordering::Equal).or(Some(
            // strings only support equality; any non-equal order is fine for `!=`
            Ordering::Less,
        )),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(&y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            a.as_f64()?.partial_cmp(&b.as_f64()?)
        }
        _ => None,
    }
}

impl Filter {
    /// Parses `expr` against `schema`. Unknown fields, a literal of the wrong type for the
    /// field, or an ordering comparison on a string field are errors.
    /// String literals are double- or single-quoted.
    pub fn parse(
        expr: &str,
        schema: &Schema,
        interner: &mut Interner,
    ) -> Result<Filter, CoreError> {
        let toks = lex(expr).map_err(|(what, col)| CoreError::Filter {
            expr: expr.to_string(),
            msg: format!("expected {what} at position {col}"),
        })?;
        let mut p = Parser {
            expr,
            toks,
            pos: 0,
            schema,
            interner,
            depth: 0,
            terms: 0,
        };
        let f = p.parse_or()?;
        if *p.peek() != Tok::End {
            return Err(p.expected("`and`, `or` or the end of the filter"));
        }
        Ok(f)
    }

    /// Does the event pass? A `Null` field fails every comparison except `!=`.
    #[inline]
    /// Replaces each literal compared with field `field` by `f` of it.
    pub fn map_literals(&mut self, field: FieldId, f: &impl Fn(Value) -> Value) {
        match self {
            Filter::Cmp {
                field: x, value, ..
            } if *x == field => *value = f(*value),
            Filter::In { field: x, values } if *x == field => {
                values.iter_mut().for_each(|v| *v = f(*v))
            }
            Filter::And(fs) | Filter::Or(fs) => {
                fs.iter_mut().for_each(|x| x.map_literals(field, f))
            }
            _ => {}
        }
    }

    /// Whether the filter orders field `field` (`<`, `<=`, `>`, `>=`).
    pub fn orders(&self, field: FieldId) -> bool {
        match self {
            Filter::Cmp { field: x, op, .. } => *x == field && !matches!(op, CmpOp::Eq | CmpOp::Ne),
            Filter::In { .. } => false,
            Filter::And(fs) | Filter::Or(fs) => fs.iter().any(|x| x.orders(field)),
        }
    }

    /// Calls `f` with every field the filter reads.
    pub fn for_each_field(&self, f: &mut impl FnMut(FieldId)) {
        match self {
            Filter::Cmp { field, .. } | Filter::In { field, .. } => f(*field),
            Filter::And(fs) | Filter::Or(fs) => fs.iter().for_each(|x| x.for_each_field(f)),
        }
    }

    pub fn matches(&self, ev: &Event) -> bool {
        // The usual filter, a string field `==` or `!=` a literal, is one symbol compare
        // inline (a value equals a string literal only if it is that same string).
        if let Filter::Cmp {
            field,
            op: op @ (CmpOp::Eq | CmpOp::Ne),
            value: Value::Str(s),
        } = self
        {
            return str_cmp(ev, *field, *s, *op == CmpOp::Ne);
        }
        self.matches_any(ev)
    }

    /// [`Self::matches`] for any filter.
    fn matches_any(&self, ev: &Event) -> bool {
        match self {
            Filter::Cmp { field, op, value } => {
                let v = ev.field(*field);
                match compare(v, *value) {
                    None => *op == CmpOp::Ne,
                    Some(o) => match op {
                        CmpOp::Eq => o == Ordering::Equal,
                        CmpOp::Ne => o != Ordering::Equal,
                        CmpOp::Lt => o == Ordering::Less && !matches!(v, Value::Str(_)),
                        CmpOp::Le => o != Ordering::Greater && !matches!(v, Value::Str(_)),
                        CmpOp::Gt => o == Ordering::Greater,
                        CmpOp::Ge => o != Ordering::Less && !matches!(v, Value::Str(_)),
                    },
                }
            }
            Filter::In { field, values } => {
                let v = ev.field(*field);
                values
                    .iter()
                    .any(|l| compare(v, *l) == Some(Ordering::Equal))
            }
            Filter::And(all) => all.iter().all(|f| f.matches(ev)),
            Filter::Or(all) => all.iter().any(|f| f.matches(ev)),
        }
    }
}

/// `field == sym` (or `!=` when `ne`): a value equals a string literal only if it is that
/// same interned string, so one symbol compare decides it.
#[inline]
fn str_cmp(ev: &Event, field: FieldId, sym: Sym, ne: bool) -> bool {
    matches!(ev.fields.get(field), Some(Value::Str(x)) if *x == sym) != ne
}

/// A [`Filter`] prepared for the engine's per-event test: the usual string `==` / `!=` a
/// literal as a bare symbol compare (no walk of the filter enum), anything else through
/// [`Filter::matches`].
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// `field == sym`, or `field != sym` when `ne`.
    Str {
        field: FieldId,
        sym: Sym,
        ne: bool,
    },
    Any(Filter),
}

impl Prepared {
    pub fn new(f: &Filter) -> Prepared {
        match *f {
            Filter::Cmp {
                field,
                op: op @ (CmpOp::Eq | CmpOp::Ne),
                value: Value::Str(sym),
            } => Prepared::Str {
                field,
                sym,
                ne: op == CmpOp::Ne,
            },
            _ => Prepared::Any(f.clone()),
        }
    }

    /// Same as [`Filter::matches`] on the filter it was made from.
    #[inline]
    pub fn matches(&self, ev: &Event) -> bool {
        match self {
            &Prepared::Str { field, sym, ne } => str_cmp(ev, field, sym, ne),
            Prepared::Any(f) => f.matches(ev),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyId;

    fn setup() -> (Schema, Interner) {
        let mut s = Schema::new();
        s.add("event_type", FieldType::String); // 0
        s.add("amount", FieldType::Float); // 1
        s.add("n", FieldType::Int); // 2
        s.add("flag", FieldType::Bool); // 3
        (s, Interner::new())
    }

    fn ev(it: &mut Interner, et: Option<&str>, amount: f64, n: i64, flag: bool) -> Event {
        Event {
            key: KeyId(0),
            ts: 0,
            fields: vec![
                et.map_or(Value::Null, |e| Value::Str(it.intern(e))),
                Value::Float(amount),
                Value::Int(n),
                Value::Bool(flag),
            ],
        }
    }

    #[test]
    fn parses_and_matches() {
        let (s, mut it) = setup();
        let login = ev(&mut it, Some("login"), 5.0, 3, true);
        let purchase = ev(&mut it, Some("purchase"), 150.0, 10, false);
        let none = ev(&mut it, None, 0.0, 0, false);
        let cases: &[(&str, [bool; 3])] = &[
            ("event_type == \"login\"", [true, false, false]),
            ("event_type == 'login'", [true, false, false]),
            ("event_type != 'login'", [false, true, true]),
            ("amount > 100", [false, true, false]),
            ("amount >= 5", [true, true, false]),
            ("amount < 5.5", [true, false, true]),
            ("amount <= 5", [true, false, true]),
            ("n == 3", [true, false, false]),
            ("n in [3, 10]", [true, true, false]),
            ("event_type in ['login', \"x\"]", [true, false, false]),
            ("flag == true", [true, false, false]),
            ("flag != true", [false, true, true]),
            // and binds tighter than or
            ("n == 10 or n == 3 and amount > 100", [false, true, false]),
            ("(n == 10 or n == 3) and amount > 100", [false, true, false]),
            ("(n == 10 or n == 3) and amount < 100", [true, false, false]),
            ("amount > -1e1 and n >= -3", [true, true, true]),
        ];
        for (expr, want) in cases {
            let f = Filter::parse(expr, &s, &mut it).unwrap();
            let got = [f.matches(&login), f.matches(&purchase), f.matches(&none)];
            assert_eq!(&got, want, "{expr}");
            let p = Prepared::new(&f);
            let got = [p.matches(&login), p.matches(&purchase), p.matches(&none)];
            assert_eq!(&got, want, "prepared {expr}");
        }
        // precedence is structural: a or (b and c)
        let f = Filter::parse("n == 1 or n == 2 and n == 3", &s, &mut it).unwrap();
        assert!(matches!(f, Filter::Or(ref v) if v.len() == 2 && matches!(v[1], Filter::And(_))));
    }

    #[test]
    fn null_fails_all_but_ne() {
        let (s, mut it) = setup();
        let e = Event {
            key: KeyId(0),
            ts: 0,
            fields: vec![],
        };
        for (expr, want) in [
            ("amount == 1", false),
            ("amount < 1", false),
            ("amount > 1", false),
            ("amount != 1", true),
            ("amount in [1]", false),
        ] {
            assert_eq!(
                Filter::parse(expr, &s, &mut it).unwrap().matches(&e),
                want,
                "{expr}"
            );
        }
    }

    #[test]
    fn errors_say_what_and_where() {
        let (s, mut it) = setup();
        let err = |e: &str| {
            Filter::parse(e, &s, &mut Interner::new())
                .unwrap_err()
                .to_string()
        };
        let _ = &mut it;
        assert!(err("nope == 1").contains("unknown field `nope` at position 1"));
        assert!(err("amount == 'x'").contains("field `amount` is a float"));
        assert!(err("n == 1.5").contains("not a whole number"));
        assert!(err("event_type < 'a'").contains("needs a numeric field"));
        assert!(err("flag == 1").contains("is a boolean"));
        assert!(err("amount = 1").contains("`==`"));
        let e = err("amount == 1 and");
        assert!(
            e.contains("expected a field name or `(` at position 16"),
            "{e}"
        );
        let e = err("(amount == 1");
        assert!(e.contains("expected `)`"), "{e}");
        let e = err("amount 1");
        assert!(e.contains("expected an operator"), "{e}");
        let e = err("n in [1 2]");
        assert!(e.contains("expected `,` or `]` at position 9"), "{e}");
        let e = err("n in []");
        assert!(
            e.contains("expected a integer value") || e.contains("integer value"),
            "{e}"
        );
        assert!(err("event_type == 'abc").contains("closing"));
        assert!(err("amount == 1 amount").contains("end of the filter"));
        assert!(err("").contains("at position 1"));
        assert!(err("amount == 1 # x").contains("found `#`"));
    }

    /// Deep nesting and long chains are refused with a parse error, not a stack overflow,
    /// and the largest filters allowed parse and evaluate.
    #[test]
    fn nesting_and_length_are_bounded() {
        let (s, mut it) = setup();
        let err = |e: &str| {
            Filter::parse(e, &s, &mut Interner::new())
                .unwrap_err()
                .to_string()
        };
        let nested = |n: usize| format!("{}n == 1{}", "(".repeat(n), ")".repeat(n));
        let e = err(&nested(10_000));
        assert!(e.len() < 200, "{e}");
        // The 65th `(` is the first too deep; it is at character 65.
        assert!(e.contains("deeper than 64 levels at position 65"), "{e}");
        let chain = |n: usize, op: &str| vec!["n == 1"; n].join(&format!(" {op} "));
        for op in ["and", "or"] {
            let e = err(&chain(100_000, op));
            // Each term but the last is `n == 1 and ` (11 characters) or `n == 1 or ` (10).
            let at = 1000 * (8 + op.len()) + 1;
            assert!(
                e.contains(&format!(
                    "more than 1000 comparisons (the next starts at position {at})"
                )),
                "{e}"
            );
        }
        // At the limits: 64 levels, 1000 terms (nested chains count every term).
        let one = ev(&mut it, None, 0.0, 1, false);
        let two = ev(&mut it, None, 0.0, 2, false);
        for expr in [nested(64), chain(1000, "and"), chain(1000, "or")] {
            let f = Filter::parse(&expr, &s, &mut it).unwrap();
            assert!(f.matches(&one) && !f.matches(&two));
        }
        let halves = format!("({}) and ({})", chain(500, "or"), chain(501, "or"));
        assert!(err(&halves).contains("more than 1000 comparisons"));
        // Nested chains of `and` in `or` in `and` ... evaluate by the usual rules.
        let f = Filter::parse(
            "(n == 1 or (n == 2 and flag == true)) and n != 3",
            &s,
            &mut it,
        )
        .unwrap();
        let t = ev(&mut it, None, 0.0, 2, true);
        assert!(f.matches(&one) && !f.matches(&two) && f.matches(&t));
    }

    /// String `==` / `!=` (the inline path) against the rule read off the strings: equal
    /// only to the same string, so `!=` holds for other strings, other types, `Null` and a
    /// missing field.
    #[test]
    fn string_equality_matches_the_strings() {
        let (s, mut it) = setup();
        let names = ["login", "purchase", "x"];
        let mut events = Vec::new();
        for et in [Some("login"), Some("purchase"), Some("other"), None] {
            for n in [0, 3] {
                let e = ev(&mut it, et, 1.0, n, false);
                events.push((et, e));
            }
        }
        // a field of another type where the string is expected, and no fields at all
        let mut odd = ev(&mut it, None, 1.0, 0, false);
        odd.fields[0] = Value::Int(7);
        events.push((None, odd));
        events.push((
            None,
            Event {
                key: KeyId(0),
                ts: 0,
                fields: vec![],
            },
        ));
        for lit in names {
            for (op, ne) in [("==", false), ("!=", true)] {
                let expr = format!("event_type {op} '{lit}'");
                let f = Filter::parse(&expr, &s, &mut it).unwrap();
                for (et, e) in &events {
                    let want = (*et == Some(lit)) != ne;
                    assert_eq!(f.matches(e), want, "{expr} on {et:?} {:?}", e.fields);
                    assert!(matches!(Prepared::new(&f), Prepared::Str { .. }));
                    assert_eq!(Prepared::new(&f).matches(e), want, "{expr}");
                    // the same inside `and`
                    let both = Filter::And(vec![f.clone(), f.clone()]);
                    assert_eq!(both.matches(e), want, "{expr}");
                }
            }
        }
    }
}

//! Finds the first non-finite `f64` in a serialisable state, with its path (e.g.
//! `linear_regression.weights[2]`). `serde_json` writes NaN and infinities as `null`, which
//! no load accepts, so a snapshot must be refused before it is written.

use serde::ser::{self, Serialize};

/// Where a non-finite number sits, and which it is (`inf`, `-inf`, `NaN`).
#[derive(Debug)]
pub(crate) enum Walk {
    Found { at: String, value: String },
    Other(String),
}

impl std::fmt::Display for Walk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Walk::Found { at, value } => write!(f, "`{at}` is {value}"),
            Walk::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Walk {}

impl ser::Error for Walk {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Walk::Other(msg.to_string())
    }
}

/// The first non-finite number in `state` (`Ok(None)` if every number is finite).
pub(crate) fn first_non_finite<T: Serialize + ?Sized>(
    state: &T,
) -> Result<Option<(String, String)>, String> {
    let mut c = Checker { path: Vec::new() };
    match state.serialize(&mut c) {
        Ok(()) => Ok(None),
        Err(Walk::Found { at, value }) => Ok(Some((at, value))),
        Err(Walk::Other(m)) => Err(m),
    }
}

/// The path so far: field names and sequence indices.
struct Checker {
    path: Vec<String>,
}

impl Checker {
    fn at(&self) -> String {
        let mut s = String::new();
        for p in &self.path {
            if p.starts_with('[') || s.is_empty() {
                s.push_str(p);
            } else {
                s.push('.');
                s.push_str(p);
            }
        }
        if s.is_empty() {
            s.push_str("state");
        }
        s
    }
    fn nested<T: Serialize + ?Sized>(&mut self, key: String, v: &T) -> Result<(), Walk> {
        self.path.push(key);
        let r = v.serialize(&mut *self);
        self.path.pop();
        r
    }
}

/// Sequence and map positions: the next index, and the key last seen.
struct Compound<'a> {
    c: &'a mut Checker,
    index: usize,
    key: String,
}

impl<'a> Compound<'a> {
    fn new(c: &'a mut Checker) -> Self {
        Compound {
            c,
            index: 0,
            key: String::new(),
        }
    }
    fn element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Walk> {
        let key = format!("[{}]", self.index);
        self.index += 1;
        self.c.nested(key, v)
    }
}

/// Renders a map key as text (numbers and strings; anything else as `?`).
struct KeyText;

macro_rules! key_num {
    ($($m:ident: $t:ty),*) => {$(
        fn $m(self, v: $t) -> Result<String, Walk> { Ok(v.to_string()) }
    )*};
}

impl ser::Serializer for KeyText {
    type Ok = String;
    type Error = Walk;
    type SerializeSeq = ser::Impossible<String, Walk>;
    type SerializeTuple = ser::Impossible<String, Walk>;
    type SerializeTupleStruct = ser::Impossible<String, Walk>;
    type SerializeTupleVariant = ser::Impossible<String, Walk>;
    type SerializeMap = ser::Impossible<String, Walk>;
    type SerializeStruct = ser::Impossible<String, Walk>;
    type SerializeStructVariant = ser::Impossible<String, Walk>;
    key_num!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_f32: f32, serialize_f64: f64, serialize_char: char,
        serialize_str: &str);
    fn serialize_bytes(self, _: &[u8]) -> Result<String, Walk> {
        Ok("?".into())
    }
    fn serialize_none(self) -> Result<String, Walk> {
        Ok("?".into())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<String, Walk> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, Walk> {
        Ok("?".into())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Walk> {
        Ok("?".into())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        v: &'static str,
    ) -> Result<String, Walk> {
        Ok(v.into())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<String, Walk> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Walk> {
        Ok("?".into())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Walk> {
        Err(Walk::Other("?".into()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Walk> {
        Err(Walk::Other("?".into()))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Walk> {
        Err(Walk::Other("?".into()))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Walk> {
        Err(Walk::Other("?".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Walk> {
        Err(Walk::Other("?".into()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Walk> {
        Err(Walk::Other("?".into()))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Walk> {
        Err(Walk::Other("?".into()))
    }
}

macro_rules! ok_scalar {
    ($($m:ident: $t:ty),*) => {$(
        fn $m(self, _: $t) -> Result<(), Walk> { Ok(()) }
    )*};
}

impl<'a> ser::Serializer for &'a mut Checker {
    type Ok = ();
    type Error = Walk;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;
    ok_scalar!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_char: char, serialize_str: &str, serialize_bytes: &[u8]);
    fn serialize_f32(self, v: f32) -> Result<(), Walk> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Walk> {
        if v.is_finite() {
            return Ok(());
        }
        Err(Walk::Found {
            at: self.at(),
            value: v.to_string().to_ascii_lowercase().replace("nan", "NaN"),
        })
    }
    fn serialize_none(self) -> Result<(), Walk> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Walk> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Walk> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Walk> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Walk> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Walk> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Walk> {
        self.nested(variant.to_string(), v)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Walk> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Walk> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Walk> {
        Ok(Compound::new(self))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Walk> {
        self.path.push(variant.to_string());
        Ok(Compound::new(self))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Walk> {
        Ok(Compound::new(self))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Walk> {
        Ok(Compound::new(self))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Walk> {
        self.path.push(variant.to_string());
        Ok(Compound::new(self))
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Walk;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Walk> {
        self.element(v)
    }
    fn end(self) -> Result<(), Walk> {
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Walk;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Walk> {
        self.element(v)
    }
    fn end(self) -> Result<(), Walk> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Walk;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Walk> {
        self.element(v)
    }
    fn end(self) -> Result<(), Walk> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Walk;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Walk> {
        self.element(v)
    }
    fn end(self) -> Result<(), Walk> {
        self.c.path.pop();
        Ok(())
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Walk;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Walk> {
        self.key = k.serialize(KeyText).unwrap_or_else(|_| "?".into());
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Walk> {
        let key = std::mem::take(&mut self.key);
        self.c.nested(key, v)
    }
    fn end(self) -> Result<(), Walk> {
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Walk;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Walk> {
        self.c.nested(key.to_string(), v)
    }
    fn end(self) -> Result<(), Walk> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Walk;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Walk> {
        self.c.nested(key.to_string(), v)
    }
    fn end(self) -> Result<(), Walk> {
        self.c.path.pop();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_non_finite_number() {
        #[derive(serde::Serialize)]
        struct S {
            a: f64,
            w: Vec<f64>,
            o: Option<f64>,
        }
        let ok = S {
            a: 1.0,
            w: vec![0.5],
            o: None,
        };
        assert_eq!(first_non_finite(&ok).unwrap(), None);
        let bad = S {
            a: 1.0,
            w: vec![0.5, f64::INFINITY],
            o: Some(f64::NAN),
        };
        assert_eq!(
            first_non_finite(&bad).unwrap(),
            Some(("w[1]".to_string(), "inf".to_string()))
        );
        let nan = S {
            a: 1.0,
            w: vec![],
            o: Some(f64::NAN),
        };
        assert_eq!(first_non_finite(&nan).unwrap().unwrap().1, "NaN");
    }
}

//! A value as a tag and an 8-byte payload: how last-N items are kept, in their buffers and
//! in feature rows (and so in the online store).

use crate::Value;

pub(crate) const TAG_BOOL: u8 = 1;
pub(crate) const TAG_INT: u8 = 2;
pub(crate) const TAG_FLOAT: u8 = 3;
pub(crate) const TAG_STR: u8 = 4;

/// A value as a tag (1 to 4) and an 8-byte payload; `None` for `Null`. (Also the online
/// store's encoding of last-N items.)
#[inline(always)]
pub(crate) fn encode(v: Value) -> Option<(u8, u64)> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => (TAG_BOOL, u64::from(b)),
        Value::Int(i) => (TAG_INT, i as u64),
        Value::Float(f) => (TAG_FLOAT, f.to_bits()),
        Value::Str(s) => (TAG_STR, u64::from(s.0)),
    })
}

/// The value [`encode`] made `(tag, payload)` of.
#[inline(always)]
pub(crate) fn decode(tag: u8, p: u64) -> Value {
    match tag {
        TAG_BOOL => Value::Bool(p != 0),
        TAG_INT => Value::Int(p as i64),
        TAG_FLOAT => Value::Float(f64::from_bits(p)),
        TAG_STR => Value::Str(crate::Sym(p as u32)),
        _ => Value::Null,
    }
}

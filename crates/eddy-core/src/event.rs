//! Typed events, interned strings and keys, and the schema that names fields.

use rustc_hash::FxHashMap;

/// An interned string (a categorical value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

/// An interned entity key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

/// Index of a field in a [`Schema`] and in [`Event::fields`].
pub type FieldId = usize;

/// Maps strings to dense ids and back. Grows with the number of distinct strings held;
/// the runtime interns only fields that features or filters read, and releases the keys
/// that went idle, whose ids are then handed out again.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: FxHashMap<Box<str>, u32>,
    strings: Vec<Box<str>>,
    /// Released ids, to hand out before new ones.
    free: Vec<u32>,
    /// Strings interned so far, a released one counted again when it comes back.
    interned: u64,
    /// Ids given to a string since the last [`Interner::take_assigned`] (new or reused).
    assigned: Vec<u32>,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the id of `s`, allocating only the first time `s` is seen (or the first time
    /// since it was released).
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            return Sym(id);
        }
        self.interned += 1;
        let boxed: Box<str> = s.into();
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = boxed.clone();
                id
            }
            None => {
                self.strings.push(boxed.clone());
                (self.strings.len() - 1) as u32
            }
        };
        self.ids.insert(boxed, id);
        self.assigned.push(id);
        Sym(id)
    }

    /// Moves the ids given to a string since the last call into `out`, in order: what a
    /// copy of the strings kept elsewhere must learn (an id reused names a new string).
    pub fn take_assigned(&mut self, out: &mut Vec<u32>) {
        out.append(&mut self.assigned);
    }

    /// Whether `sym` names a string now (it was not released since it was given).
    pub fn holds(&self, sym: Sym) -> bool {
        (self.strings.get(sym.0 as usize)).is_some_and(|s| self.ids.get(&**s) == Some(&sym.0))
    }

    /// Forgets the string of `sym` and frees its memory; its id is handed out again. A sym
    /// released before (and not handed out since) is left alone; once handed out again, the
    /// id is the new string's (a caller releases each interning once).
    pub fn release(&mut self, sym: Sym) {
        if !self.holds(sym) {
            return;
        }
        let text = std::mem::take(&mut self.strings[sym.0 as usize]);
        self.ids.remove(&text);
        self.free.push(sym.0);
    }

    /// Looks `s` up without interning it.
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.ids.get(s).map(|&id| Sym(id))
    }

    /// The string of `sym` (empty for a released one).
    pub fn resolve(&self, sym: Sym) -> &str {
        &self.strings[sym.0 as usize]
    }

    /// Ids handed out so far: one more than the highest.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// Strings held now (not released).
    pub fn live(&self) -> usize {
        self.strings.len() - self.free.len()
    }

    /// Strings interned so far (a string released and seen again counts twice).
    pub fn interned(&self) -> u64 {
        self.interned
    }
}

/// A typed field value. Strings are interned so that events carry no heap data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Sym),
}

impl Value {
    /// Numeric view used by numeric aggregations (`Int` and `Float`; `Bool` as 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            Value::Null | Value::Str(_) => None,
        }
    }
}

/// Declared type of a field; decoding refuses values of another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int,
    Float,
    String,
}

/// Names and types of the fields that the pipeline reads, in [`FieldId`] order.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    names: Vec<String>,
    types: Vec<FieldType>,
}

impl Schema {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field and returns its id; an existing name returns its existing id.
    pub fn add(&mut self, name: &str, ty: FieldType) -> FieldId {
        if let Some(id) = self.field_id(name) {
            return id;
        }
        self.names.push(name.to_string());
        self.types.push(ty);
        self.names.len() - 1
    }

    pub fn field_id(&self, name: &str) -> Option<FieldId> {
        self.names.iter().position(|n| n == name)
    }

    pub fn name(&self, id: FieldId) -> &str {
        &self.names[id]
    }

    pub fn field_type(&self, id: FieldId) -> FieldType {
        self.types[id]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// One decoded event. The runtime reuses one `Event` per source, so `fields` does not
/// reallocate per event. `fields[i]` is the value of schema field `i` (`Null` if absent).
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub key: KeyId,
    pub ts: crate::Timestamp,
    pub fields: Vec<Value>,
}

impl Event {
    pub fn field(&self, id: FieldId) -> Value {
        self.fields.get(id).copied().unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_ids_are_handed_out_again_and_their_strings_forgotten() {
        let mut it = Interner::new();
        let (a, b, c) = (it.intern("a"), it.intern("b"), it.intern("c"));
        assert_eq!((a, b, c), (Sym(0), Sym(1), Sym(2)));
        it.release(b);
        assert_eq!((it.get("b"), it.live(), it.len()), (None, 2, 3));
        // released twice: the second is a no-op, and the id is handed out once
        it.release(b);
        let d = it.intern("d");
        assert_eq!(d, Sym(1));
        assert_eq!(it.resolve(d), "d");
        assert_eq!(it.intern("b"), Sym(3));
        assert_eq!((it.live(), it.len(), it.interned()), (4, 4, 5));
    }
}

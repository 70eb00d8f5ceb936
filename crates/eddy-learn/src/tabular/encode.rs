//! Rows of named fields to [`Row`]s of numbers and categories and a target.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::labels::{LabelMap, MAX_CLASS};
use crate::preprocessing::RawValue;
use crate::traits::Task;

/// One field of a row as read: absent, a number, or text to interpret.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field<'a> {
    /// No value: an absent key, a JSON null.
    Missing,
    /// A number (a JSON number; a boolean as 1/0).
    Num(f64),
    /// Text (a CSV cell, a JSON string), read as a number or a category by its column.
    /// Empty or blank text is a missing value.
    Text(&'a str),
    /// Text that the reader already found to read (trimmed) as this number (which a numeric
    /// column takes only if finite).
    NumText(&'a str, f64),
}

impl Field<'_> {
    /// A missing value: [`Field::Missing`], or empty or blank text.
    #[inline]
    pub fn is_missing(self) -> bool {
        match self {
            Field::Missing => true,
            Field::Text(t) => trim(t).is_empty(),
            Field::Num(_) | Field::NumText(..) => false,
        }
    }
}

/// One encoded feature value.
#[derive(Debug, PartialEq)]
pub enum Cell {
    Num(f64),
    Cat(String),
}

impl Cell {
    /// As the registry model's raw value.
    #[inline]
    pub fn raw(&self) -> RawValue<'_> {
        match self {
            Cell::Num(v) => RawValue::Num(*v),
            Cell::Cat(s) => RawValue::Cat(s),
        }
    }
}

impl Clone for Cell {
    fn clone(&self) -> Self {
        match self {
            Cell::Num(v) => Cell::Num(*v),
            Cell::Cat(s) => Cell::Cat(s.clone()),
        }
    }

    /// Reuses a category's allocation.
    fn clone_from(&mut self, source: &Self) {
        match (self, source) {
            (Cell::Cat(a), Cell::Cat(b)) => a.clone_from(b),
            (a, b) => *a = b.clone(),
        }
    }
}

/// One encoded row: a cell per feature column, in the encoder's column order. Reused from
/// row to row ([`ExampleEncoder::encode`] overwrites it in place; cloning into an existing row reuses
/// its allocations).
#[derive(Debug, Default, PartialEq)]
pub struct Row {
    cells: Vec<Cell>,
    /// The cells as raw values when they are all numbers (the common case: handed to the
    /// model as they are).
    nums: Vec<RawValue<'static>>,
}

impl Clone for Row {
    fn clone(&self) -> Self {
        Row {
            cells: self.cells.clone(),
            nums: self.nums.clone(),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.cells.clone_from(&source.cells);
        self.nums.clone_from(&source.nums);
    }
}

impl Row {
    /// The cells, by feature column.
    pub fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// Overwrites the row with the numbers `nums`, then the categories `cats`, reusing its
    /// allocations (a pipeline's example: numeric features, then fields as categories).
    pub fn set<'s>(&mut self, nums: &[f64], cats: impl ExactSizeIterator<Item = &'s str>) {
        let n_cats = cats.len();
        let n = nums.len() + n_cats;
        self.cells.truncate(n);
        while self.cells.len() < n {
            self.cells.push(Cell::Num(0.0));
        }
        for (c, &v) in self.cells.iter_mut().zip(nums) {
            *c = Cell::Num(v);
        }
        for (c, s) in self.cells[nums.len()..].iter_mut().zip(cats) {
            match c {
                Cell::Cat(t) => {
                    t.clear();
                    t.push_str(s);
                }
                c => *c = Cell::Cat((*s).to_string()),
            }
        }
        self.nums.clear();
        if n_cats == 0 {
            self.nums.extend(nums.iter().map(|&v| RawValue::Num(v)));
        }
    }

    /// The cells as raw values when they are all numbers, without copying.
    #[inline]
    pub fn numeric(&self) -> Option<&[RawValue<'static>]> {
        (self.nums.len() == self.cells.len()).then_some(&self.nums[..])
    }
}

/// The type of a feature column, decided by its first non-missing value.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColKind {
    /// No non-missing value seen yet.
    Undecided,
    Numeric,
    Categorical,
}

/// A feature column.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Column {
    name: String,
    kind: ColKind,
    /// Categorical whatever its values look like.
    force_categorical: bool,
}

impl Column {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> ColKind {
        self.kind
    }

    /// Declared categorical ([`ColumnSpec::categorical`]).
    pub fn is_forced_categorical(&self) -> bool {
        self.force_categorical
    }
}

/// Which columns of the input are features and which are categorical whatever their values.
#[derive(Clone, Debug, Default)]
pub struct ColumnSpec {
    /// Columns categorical even when their values look numeric.
    pub categorical: Vec<String>,
    /// Only these columns are features (empty: every column but the target).
    pub only: Vec<String>,
    /// These columns are not features (e.g. ids and timestamps).
    pub ignore: Vec<String>,
}

/// A list of [`ColumnSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnList {
    Categorical,
    Only,
    Ignore,
}

impl std::fmt::Display for ColumnList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ColumnList::Categorical => "categorical",
            ColumnList::Only => "feature",
            ColumnList::Ignore => "ignored",
        })
    }
}

/// Why an [`ExampleEncoder`] cannot be made for, or laid over, an input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SetupError {
    #[error("target column `{target}` is not in the input; columns: {}", .columns.join(", "))]
    NoTarget {
        target: String,
        columns: Vec<String>,
    },
    #[error("{list} column `{column}` is not in the input; columns: {}", .columns.join(", "))]
    NotInInput {
        list: ColumnList,
        column: String,
        columns: Vec<String>,
    },
    #[error("column `{column}` (seen by the saved model) is not in the input")]
    KnownColumnMissing { column: String },
    #[error("the value for missing features must be a finite number, not {0}")]
    FillNotFinite(f64),
}

/// What is wrong with a field.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Problem {
    #[error("missing value")]
    MissingValue,
    #[error("missing target")]
    MissingTarget,
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("{0} is not a finite number")]
    NotFinite(f64),
    #[error("class label {0} is above {MAX_CLASS}")]
    ClassTooLarge(u64),
    #[error("label `{0}` is not a non-negative integer like the earlier labels")]
    NotAnInteger(String),
    #[error("label `{0}` is not true/false like the earlier labels")]
    NotABool(String),
    #[error("more than {MAX_CLASS} distinct labels")]
    TooManyLabels,
    /// A fractional number given to a classifier: a continuous target, for a regressor.
    #[error("target `{0}` is not a class label; use a regressor for a continuous target")]
    NotAClassLabel(String),
}

impl Problem {
    /// A missing value or target (rather than a bad one).
    pub fn is_missing(&self) -> bool {
        matches!(self, Problem::MissingValue | Problem::MissingTarget)
    }
}

/// A row that cannot be encoded: the column at fault and what is wrong with it.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("column `{column}`: {problem}")]
pub struct BadField {
    pub column: String,
    pub problem: Problem,
}

/// Where an input's columns go: built by [`ExampleEncoder::layout`] from the input's column names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Per input column: its feature column, or `None` (the target, a column not used).
    map: Vec<Option<usize>>,
    target: usize,
    n_columns: usize,
}

impl Layout {
    /// The input column holding the target.
    pub fn target(&self) -> usize {
        self.target
    }

    /// The number of input columns.
    pub fn width(&self) -> usize {
        self.map.len()
    }

    /// The feature column of each input column (`None`: the target, or not a feature).
    pub fn features(&self) -> &[Option<usize>] {
        &self.map
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum TaskName {
    Regression,
    Classification,
}

/// Turns a row's fields into a [`Row`] of numbers and categories and a target.
///
/// Columns are typed by their first non-missing value: numeric when it is a number or text
/// reading as a finite number, categorical otherwise or when declared so. A numeric column
/// takes finite numbers only (other text, NaN, infinities are bad fields); a categorical
/// column takes any text (trimmed; missing is the category `""`) and numbers as their decimal
/// text. A missing value in a numeric or not yet typed column is a bad field, unless a fill
/// value is set ([`ExampleEncoder::set_fill_missing`]). The target is a finite number for regression
/// and a label for classification, numbered by a [`LabelMap`].
///
/// Serialisable (the column names, types and label numbering; not the fill value), so a run
/// can continue on later input.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ExampleEncoder {
    target: String,
    task: TaskName,
    /// Feature columns, in input order, by name.
    columns: Vec<Column>,
    #[serde(default)]
    labels: LabelMap,
    /// Numbers parsed from the current row, by column.
    #[serde(skip)]
    nums: Vec<f64>,
    #[serde(skip)]
    fill_missing: Option<f64>,
    /// Every column's type is decided (rows take one pass) ...
    #[serde(skip)]
    decided: bool,
    /// ... and every column is numeric.
    #[serde(skip)]
    all_numeric: bool,
}

impl ExampleEncoder {
    /// An encoder for an input with these column names: every column but the target, as
    /// `spec` narrows them, is a feature. Names in `spec` must be columns of the input,
    /// checked in this order: the target, `categorical`, `only`, `ignore`.
    pub fn new(
        target: &str,
        task: Task,
        header: &[String],
        spec: &ColumnSpec,
    ) -> Result<Self, SetupError> {
        if !header.iter().any(|h| h == target) {
            return Err(SetupError::NoTarget {
                target: target.to_string(),
                columns: header.to_vec(),
            });
        }
        for (list, names) in [
            (ColumnList::Categorical, &spec.categorical),
            (ColumnList::Only, &spec.only),
            (ColumnList::Ignore, &spec.ignore),
        ] {
            if let Some(c) = names.iter().find(|c| !header.contains(c)) {
                return Err(SetupError::NotInInput {
                    list,
                    column: c.clone(),
                    columns: header.to_vec(),
                });
            }
        }
        let keeps = |name: &String| {
            (spec.only.is_empty() || spec.only.contains(name)) && !spec.ignore.contains(name)
        };
        let columns = header
            .iter()
            .filter(|h| *h != target && keeps(h))
            .map(|h| Column {
                name: h.clone(),
                kind: ColKind::Undecided,
                force_categorical: spec.categorical.contains(h),
            })
            .collect();
        Ok(ExampleEncoder {
            target: target.to_string(),
            task: match task {
                Task::Regression => TaskName::Regression,
                Task::Classification => TaskName::Classification,
            },
            columns,
            labels: LabelMap::new(),
            nums: Vec::new(),
            fill_missing: None,
            decided: false,
            all_numeric: false,
        })
    }

    /// The target column.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn task(&self) -> Task {
        match self.task {
            TaskName::Regression => Task::Regression,
            TaskName::Classification => Task::Classification,
        }
    }

    /// The feature columns, in the order of a [`Row`]'s cells.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The label numbering (classification).
    pub fn labels(&self) -> &LabelMap {
        &self.labels
    }

    /// Puts `fill` in place of a missing feature value (`None`: such a row is bad). A missing
    /// target stays a bad row.
    pub fn set_fill_missing(&mut self, fill: Option<f64>) -> Result<(), SetupError> {
        if let Some(v) = fill.filter(|v| !v.is_finite()) {
            return Err(SetupError::FillNotFinite(v));
        }
        self.fill_missing = fill;
        Ok(())
    }

    /// Maps an input's columns (by name, in input order) to the encoder's. Every feature column
    /// and the target must be there; other columns are left out.
    pub fn layout(&self, header: &[String]) -> Result<Layout, SetupError> {
        let mut map = Vec::with_capacity(header.len());
        let mut target = None;
        for (i, h) in header.iter().enumerate() {
            if *h == self.target {
                target = Some(i);
                map.push(None);
            } else {
                map.push(self.columns.iter().position(|c| c.name == *h));
            }
        }
        let target = target.ok_or_else(|| SetupError::NoTarget {
            target: self.target.clone(),
            columns: header.to_vec(),
        })?;
        if let Some(c) = self.columns.iter().find(|c| !header.contains(&c.name)) {
            return Err(SetupError::KnownColumnMissing {
                column: c.name.clone(),
            });
        }
        Ok(Layout {
            map,
            target,
            n_columns: self.columns.len(),
        })
    }

    /// Encodes a row: `fields` in input order (an absent field is missing), laid out by
    /// `layout`. On success `row` holds the features and the target is returned. On failure
    /// `row` is not to be used, and no column type was decided by the row (a new label name
    /// has its number, though: the target is encoded first).
    ///
    /// # Panics
    ///
    /// If `layout` was made by an encoder with another number of columns.
    pub fn encode(
        &mut self,
        fields: &[Field],
        layout: &Layout,
        row: &mut Row,
    ) -> Result<f64, BadField> {
        assert_eq!(
            layout.n_columns,
            self.columns.len(),
            "a layout made by another encoder"
        );
        let y = self.encode_target(fields.get(layout.target).copied().unwrap_or(Field::Missing))?;
        if fields.len() >= layout.map.len() {
            self.encode_features(fields.iter().copied().zip(&layout.map), row)?;
        } else {
            let padded = fields
                .iter()
                .copied()
                .chain(std::iter::repeat(Field::Missing));
            self.encode_features(padded.zip(&layout.map), row)?;
        }
        Ok(y)
    }

    /// The features of a row: `fields` paired with their feature column, if any.
    #[inline]
    fn encode_features<'f, 'm>(
        &mut self,
        fields: impl Iterator<Item = (Field<'f>, &'m Option<usize>)> + Clone,
        row: &mut Row,
    ) -> Result<(), BadField> {
        let fill = self.fill_missing;
        let fields = fields.filter_map(move |(f, col)| {
            let f = match fill {
                Some(v) if f.is_missing() => Field::Num(v),
                _ => f,
            };
            col.map(|ci| (ci, f))
        });
        if self.decided {
            self.encode_decided(fields, row)
        } else {
            self.encode_deciding(fields, row)?;
            self.decided = self.columns.iter().all(|c| c.kind != ColKind::Undecided);
            self.all_numeric = self.columns.iter().all(|c| c.kind == ColKind::Numeric);
            Ok(())
        }
    }

    /// The features of a row while some column's type is not decided: every numeric field is
    /// parsed before any type is decided.
    fn encode_deciding<'f>(
        &mut self,
        fields: impl Iterator<Item = (usize, Field<'f>)> + Clone,
        row: &mut Row,
    ) -> Result<(), BadField> {
        // A missing value in a column whose type is not known yet is refused like one in a
        // numeric column: its type cannot be decided from it, and no value is invented for it.
        self.nums.resize(self.columns.len(), 0.0);
        for (ci, f) in fields.clone() {
            let c = &self.columns[ci];
            if c.kind == ColKind::Undecided && !c.force_categorical && f.is_missing() {
                return Err(bad(&c.name, Problem::MissingValue));
            }
            let numeric = match c.kind {
                ColKind::Numeric => true,
                ColKind::Categorical => false,
                ColKind::Undecided => !c.force_categorical && looks_numeric(f),
            };
            if numeric {
                self.nums[ci] = match f {
                    Field::NumText(_, v) if v.is_finite() => v,
                    f => number(f).map_err(|p| bad(&c.name, p))?,
                };
            }
        }
        row.cells.resize(self.columns.len(), Cell::Num(0.0));
        let mut all_num = true;
        for (ci, f) in fields {
            let c = &mut self.columns[ci];
            if c.kind == ColKind::Undecided {
                c.kind = if !c.force_categorical && looks_numeric(f) {
                    ColKind::Numeric
                } else {
                    ColKind::Categorical
                };
            }
            if c.kind == ColKind::Categorical {
                all_num = false;
                set_category(&mut row.cells[ci], f);
            } else {
                row.cells[ci] = Cell::Num(self.nums[ci]);
            }
        }
        row.nums.clear();
        if all_num {
            row.nums.extend(self.nums.iter().map(|&v| RawValue::Num(v)));
        }
        Ok(())
    }

    /// The features of a row once every column's type is decided: one pass.
    #[inline]
    fn encode_decided<'f>(
        &mut self,
        fields: impl Iterator<Item = (usize, Field<'f>)>,
        row: &mut Row,
    ) -> Result<(), BadField> {
        let n = self.columns.len();
        row.cells.resize(n, Cell::Num(0.0));
        if self.all_numeric {
            row.nums.resize(n, RawValue::Num(0.0));
            for (ci, f) in fields {
                let v = match f {
                    Field::NumText(_, v) if v.is_finite() => v,
                    f => number(f).map_err(|p| bad(&self.columns[ci].name, p))?,
                };
                row.nums[ci] = RawValue::Num(v);
                row.cells[ci] = Cell::Num(v);
            }
            return Ok(());
        }
        row.nums.clear();
        for (ci, f) in fields {
            let c = &self.columns[ci];
            if c.kind == ColKind::Categorical {
                set_category(&mut row.cells[ci], f);
            } else {
                row.cells[ci] = Cell::Num(match f {
                    Field::NumText(_, v) if v.is_finite() => v,
                    f => number(f).map_err(|p| bad(&c.name, p))?,
                });
            }
        }
        Ok(())
    }

    /// The target of a row: a finite number (regression) or a class number (classification,
    /// by the [`LabelMap`]).
    pub fn encode_target(&mut self, f: Field) -> Result<f64, BadField> {
        match self.task {
            TaskName::Regression => number(f),
            TaskName::Classification => self.labels.class(f),
        }
        .map_err(|p| bad(&self.target, p))
    }
}

/// Makes `cell` the category a field reads as (reusing its string).
#[inline]
fn set_category(cell: &mut Cell, f: Field) {
    if let Cell::Num(_) = cell {
        *cell = Cell::Cat(String::new());
    }
    if let Cell::Cat(s) = cell {
        s.clear();
        match f {
            Field::Missing => {}
            // Writing into the string reuses its allocation.
            Field::Num(v) => {
                let _ = write!(s, "{v}");
            }
            Field::Text(t) | Field::NumText(t, _) => s.push_str(t.trim()),
        }
    }
}

fn bad(column: &str, problem: Problem) -> BadField {
    BadField {
        column: column.to_string(),
        problem,
    }
}

/// Whether a column whose type is undecided reads this value as a number.
fn looks_numeric(f: Field) -> bool {
    match f {
        Field::Num(_) | Field::NumText(..) => true,
        Field::Text(t) => trim(t).parse::<f64>().is_ok(),
        Field::Missing => false,
    }
}

/// `str::trim`, without its work for text that starts and ends in neither whitespace nor
/// a non-ASCII byte (a field's text is trimmed before it is read as a number or a category).
#[inline]
pub fn trim(t: &str) -> &str {
    match t.as_bytes() {
        [a, .., b] if a.is_ascii_graphic() && b.is_ascii_graphic() => t,
        [a] if a.is_ascii_graphic() => t,
        _ => t.trim(),
    }
}

/// A finite number out of a field, or what is wrong with it.
fn number(f: Field) -> Result<f64, Problem> {
    let v = match f {
        Field::Missing => return Err(Problem::MissingValue),
        Field::Num(v) | Field::NumText(_, v) => v,
        Field::Text(t) => {
            let t = trim(t);
            if t.is_empty() {
                return Err(Problem::MissingValue);
            }
            t.parse::<f64>()
                .map_err(|_| Problem::NotANumber(t.to_string()))?
        }
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Problem::NotFinite(v))
    }
}

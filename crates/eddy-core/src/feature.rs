//! A feature: `name = aggregation(field?) over window [where filter] per key`.

use crate::agg::AggKind;
use crate::filter::Filter;
use crate::window::WindowSpec;
use crate::FieldId;

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    pub name: String,
    pub agg: AggKind,
    /// The field the aggregation reads; `None` for count, rate and recency.
    pub field: Option<FieldId>,
    pub window: WindowSpec,
    pub filter: Option<Filter>,
}

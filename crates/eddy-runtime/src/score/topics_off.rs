//! The topics pattern in a build without the `kafka` feature: a spec with `pattern = "topics"`
//! validates, and the pipeline refuses it when it is built.

use eddy_core::feature::FeatureSpec;
use eddy_core::row::FeatureRow;

use super::{spec_err, Deferred, Deliver, StageCounts};
use crate::error::SpecErrors;
use crate::spec::{ModelSpec, OutputFormat};

/// No value of it exists: it cannot be built without the `kafka` feature.
#[derive(Debug)]
pub enum TopicsStage {}

impl TopicsStage {
    pub fn new(
        _spec: &ModelSpec,
        _features: &[FeatureSpec],
        _format: OutputFormat,
    ) -> Result<(TopicsStage, Vec<String>), SpecErrors> {
        Err(spec_err(
            "model.pattern",
            "this eddy was built without the `kafka` feature, so it cannot score through \
             topics; rebuild with default features, or score in process (`model.path`)",
        ))
    }
}

impl Deferred for TopicsStage {
    fn counts(&self) -> &StageCounts {
        match *self {}
    }

    fn pending(&self) -> usize {
        match *self {}
    }

    fn watermark(&mut self, _wm: i64, _deliver: &mut Deliver<'_>) {
        match *self {}
    }

    fn load(&mut self, _row: &FeatureRow, _key: &str, _ts: i64) {
        match *self {}
    }

    fn send(&mut self, _id: u64, _deliver: &mut Deliver<'_>) {
        match *self {}
    }

    fn poll(&mut self, _deliver: &mut Deliver<'_>) {
        match *self {}
    }

    fn finish(&mut self, _deliver: &mut Deliver<'_>) {
        match *self {}
    }
}

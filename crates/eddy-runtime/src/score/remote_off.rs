//! The server patterns in a build without the `http` feature: a spec that names a model server
//! validates, and the pipeline refuses it when it is built.

use super::{spec_err, Deferred};
pub use super::{Deliver, StageCounts};
use crate::error::SpecErrors;
use crate::spec::{ModelSpec, OutputFormat};
use eddy_core::feature::FeatureSpec;
use eddy_core::row::FeatureRow;

/// No value of it exists: it cannot be built without the `http` feature.
#[derive(Debug)]
pub enum RemoteStage {}

impl RemoteStage {
    pub fn new(
        _spec: &ModelSpec,
        _features: &[FeatureSpec],
        _format: OutputFormat,
    ) -> Result<(RemoteStage, Vec<String>), SpecErrors> {
        Err(spec_err(
            "model.url",
            "this eddy was built without the `http` feature, so it cannot call a model server; \
             rebuild with default features, or score in process (`model.path`)",
        ))
    }
}

impl Deferred for RemoteStage {
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

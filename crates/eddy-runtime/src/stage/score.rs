//! The score stage: an embedded model scores every per-event row of a batch in one call. It
//! runs on the engine thread when that thread keeps up; a second instance on the front thread
//! (`catch_up`) scores the batches the first one left, so a slow model never stalls the engine.
//! (The model-server patterns score in the emit stage, where rows wait for their scores.)

use std::time::Instant;

use super::{has_row, Flow, Stage, Work};
use crate::error::RuntimeError;
use crate::metrics::{LocalHistogram, Metrics, UnscoredReason};
use crate::score::Scorer;

pub struct ScoreStage {
    pub(crate) scorer: Scorer,
    /// Scores only the batches the engine thread's instance left.
    pub(crate) catch_up: bool,
    /// Counted since the last report.
    scored: u64,
    null_feature: u64,
    model_error: u64,
    /// The model's time per call (one call per batch).
    latency: LocalHistogram,
}

impl ScoreStage {
    pub fn new(scorer: Scorer, catch_up: bool) -> Self {
        ScoreStage {
            scorer,
            catch_up,
            scored: 0,
            null_feature: 0,
            model_error: 0,
            latency: LocalHistogram::default(),
        }
    }
}

impl Stage for ScoreStage {
    fn name(&self) -> &'static str {
        "score"
    }

    fn process(&mut self, mut w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError> {
        let mine = if self.catch_up {
            !w.predicted
        } else {
            !w.behind
        };
        if mine {
            let w_ = &mut *w;
            let outcomes = &w_.outcomes;
            let start = Instant::now();
            let c = self.scorer.score_batch(
                &w_.rows,
                outcomes.len(),
                |i| has_row(outcomes[i].0),
                &mut w_.pred_json,
                &mut w_.pred_ends,
            );
            self.latency.observe_duration(start.elapsed());
            w_.predicted = true;
            self.scored += c.scored;
            self.null_feature += c.null_feature;
            self.model_error += c.model_error;
        }
        flow.pass(w);
        Ok(())
    }

    fn report(&mut self, m: &Metrics) {
        m.scored().add(std::mem::take(&mut self.scored));
        m.unscored(UnscoredReason::NullFeature)
            .add(std::mem::take(&mut self.null_feature));
        m.unscored(UnscoredReason::ModelError)
            .add(std::mem::take(&mut self.model_error));
        m.model_seconds().merge(&mut self.latency);
    }
}

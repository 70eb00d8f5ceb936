//! Per-event rows encoded on the engine thread: with JSONL in and out and no model server, the
//! engine thread writes each row (the raw line with its features object and prediction
//! spliced in) when it keeps up, so the front thread only copies them out. When it falls
//! behind, the emit stage encodes them instead (the same bytes).

use super::{fragment, has_row, Flow, Stage, Work};
use crate::encode::FeaturesJson;
use crate::error::RuntimeError;

pub struct RowsStage {
    pub(crate) features_json: FeaturesJson,
}

impl Stage for RowsStage {
    fn name(&self) -> &'static str {
        "rows"
    }

    fn process(&mut self, mut w: Box<Work>, flow: &mut Flow) -> Result<(), RuntimeError> {
        let fj = &mut self.features_json;
        for (id, s) in &w.new_strings {
            fj.set_string(*id as usize, s);
        }
        w.rows_complete = !w.behind;
        if !w.behind {
            let w = &mut *w;
            for i in 0..w.recs.len() {
                if has_row(w.outcomes[i].0) {
                    // The whole per-event row; none (the emit stage encodes it) if the line
                    // is not an object.
                    let rec = w.recs[i];
                    let line = &w.batch.data[rec.start..rec.end];
                    let prediction = fragment(w.predicted, &w.pred_json, &w.pred_ends, i);
                    if !fj.encode_row(&mut w.feat_json, line, &w.rows[i], prediction) {
                        w.rows_complete = false;
                    }
                }
                w.feat_ends.push(w.feat_json.len());
            }
        }
        flow.pass(w);
        Ok(())
    }
}

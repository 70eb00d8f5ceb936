//! eddy-runtime: running a pipeline. The spec, decoding JSONL/CSV into typed events, file and
//! stdin sources, file and stdout sinks, dead letters, and run statistics.

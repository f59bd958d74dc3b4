//! Workers: consume task queues, run task functions, report outcomes, ack late.

pub(crate) mod inflight;
pub(crate) mod rate_limit;

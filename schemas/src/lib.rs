//! The Avro contract of Celeriac: record types, their schemas, the codec and evolution rules.

mod workflow;

pub use workflow::{InputMode, StepKind, StepOptions, WorkflowEdge, WorkflowSpec, WorkflowStep};

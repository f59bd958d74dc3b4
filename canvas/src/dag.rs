//! The compiled form: a petgraph DAG whose nodes are [`WorkflowStep`]s and whose edges carry
//! the input slot a parent's result fills, convertible losslessly to and from `WorkflowSpec`.
//!
//! Node indexes are step positions in `WorkflowSpec::steps`, and edges keep their order, so
//! `Dag::from_spec(spec)?.into_spec() == spec` for every valid spec.

use celeriac_schemas::{WorkflowEdge, WorkflowSpec, WorkflowStep};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::validate::validate_graph;

/// The graph inside a [`Dag`]: steps as nodes, input slots as edge weights.
pub type StepGraph = DiGraph<WorkflowStep, u32>;

/// A compiled workflow: steps, slot edges and the step whose result is the output.
#[derive(Debug, Clone)]
pub struct Dag {
    /// The workflow id; every step's `task_id` is UUIDv5 of this id and the step id.
    pub id: Uuid,
    /// A human name for dashboards and logs.
    pub label: Option<String>,
    /// Submission time in milliseconds since the Unix epoch; compilation sets 0.
    pub created_at: i64,
    graph: StepGraph,
    output: NodeIndex,
}

impl Dag {
    /// Wraps a graph, checking every structural rule (see [`Dag::validate`]).
    pub fn new(id: Uuid, graph: StepGraph, output: usize) -> Result<Self> {
        let dag = Dag {
            id,
            label: None,
            created_at: 0,
            graph,
            output: NodeIndex::new(output),
        };
        dag.validate()?;
        Ok(dag)
    }

    /// Wraps a graph the compiler built; it is valid by construction.
    pub(crate) fn from_compiler(id: Uuid, graph: StepGraph, output: NodeIndex) -> Self {
        Dag {
            id,
            label: None,
            created_at: 0,
            graph,
            output,
        }
    }

    /// Reads a `WorkflowSpec`, refusing one that breaks a structural rule.
    pub fn from_spec(spec: WorkflowSpec) -> Result<Self> {
        let output = index_of(spec.output, "output")?;
        let mut graph = StepGraph::with_capacity(spec.steps.len(), spec.edges.len());
        for step in spec.steps {
            graph.add_node(step);
        }
        for (i, edge) in spec.edges.iter().enumerate() {
            let (from, to) = edge_ends(&graph, edge, i)?;
            let slot = u32::try_from(edge.slot)
                .map_err(|_| invalid(format!("edges[{i}] has negative slot {}", edge.slot)))?;
            graph.add_edge(from, to, slot);
        }
        let mut dag = Dag::new(spec.id, graph, output)?;
        dag.label = spec.label;
        dag.created_at = spec.created_at;
        Ok(dag)
    }

    /// The `WorkflowSpec` record of this DAG.
    pub fn to_spec(&self) -> WorkflowSpec {
        self.clone().into_spec()
    }

    /// Turns the DAG into its `WorkflowSpec` record.
    pub fn into_spec(self) -> WorkflowSpec {
        let edges = self.edge_list();
        let output = self.output.index() as i32;
        let (nodes, _) = self.graph.into_nodes_edges();
        WorkflowSpec {
            id: self.id,
            label: self.label,
            created_at: self.created_at,
            steps: nodes.into_iter().map(|node| node.weight).collect(),
            edges,
            output,
        }
    }

    /// Checks every structural rule: indexes in range, unique step ids, each input slot
    /// filled exactly once, error callbacks well formed, supported content types, no cycle,
    /// at most [`MAX_STEPS`](crate::MAX_STEPS) steps.
    pub fn validate(&self) -> Result<()> {
        validate_graph(&self.graph, self.output)
    }

    /// The petgraph graph.
    pub fn graph(&self) -> &StepGraph {
        &self.graph
    }

    /// How many steps the workflow has, error callbacks included.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// True if the workflow has no steps (never true for a compiled or validated DAG).
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The step at an index.
    pub fn step(&self, index: usize) -> &WorkflowStep {
        &self.graph[NodeIndex::new(index)]
    }

    /// Every step, in index order.
    pub fn steps(&self) -> impl Iterator<Item = &WorkflowStep> {
        self.graph.node_weights()
    }

    /// The index of the step whose result is the workflow's result.
    pub fn output(&self) -> usize {
        self.output.index()
    }

    /// The index of a step by its step id.
    pub fn index_of(&self, step_id: &str) -> Option<usize> {
        self.graph
            .node_indices()
            .find(|&i| self.graph[i].step_id == step_id)
            .map(NodeIndex::index)
    }

    /// The parents of a step as `(slot, parent index)`, in slot order.
    pub fn parents(&self, index: usize) -> Vec<(u32, usize)> {
        let mut parents: Vec<(u32, usize)> = self
            .graph
            .edges_directed(NodeIndex::new(index), Direction::Incoming)
            .map(|e| (*e.weight(), e.source().index()))
            .collect();
        parents.sort_unstable();
        parents
    }

    /// The children of a step as `(child index, slot)`.
    pub fn children(&self, index: usize) -> Vec<(usize, u32)> {
        let mut children: Vec<(usize, u32)> = self
            .graph
            .edges_directed(NodeIndex::new(index), Direction::Outgoing)
            .map(|e| (e.target().index(), *e.weight()))
            .collect();
        children.sort_unstable();
        children
    }

    /// Steps ready at submit: no input slots and not error callbacks.
    pub fn ready_at_submit(&self) -> Vec<usize> {
        self.graph
            .node_indices()
            .filter(|&i| self.graph[i].input_slots == 0 && !self.graph[i].errback)
            .map(NodeIndex::index)
            .collect()
    }

    /// The edges as `WorkflowEdge` records, in edge order.
    pub fn edge_list(&self) -> Vec<WorkflowEdge> {
        self.graph
            .edge_references()
            .map(|e| WorkflowEdge {
                from: e.source().index() as i32,
                to: e.target().index() as i32,
                slot: *e.weight() as i32,
            })
            .collect()
    }
}

/// Two DAGs are equal when their specs are.
impl PartialEq for Dag {
    fn eq(&self, other: &Self) -> bool {
        self.to_spec() == other.to_spec()
    }
}

/// A spec index as a node index, refusing negatives.
fn index_of(index: i32, what: &str) -> Result<usize> {
    usize::try_from(index).map_err(|_| invalid(format!("{what} is negative ({index})")))
}

/// The two ends of a spec edge, checked against the number of steps.
fn edge_ends(graph: &StepGraph, edge: &WorkflowEdge, i: usize) -> Result<(NodeIndex, NodeIndex)> {
    let count = graph.node_count();
    let end = |index: i32, what: &str| -> Result<NodeIndex> {
        match usize::try_from(index) {
            Ok(index) if index < count => Ok(NodeIndex::new(index)),
            _ => Err(invalid(format!(
                "edges[{i}].{what} is {index}, expected a step index below {count}"
            ))),
        }
    };
    Ok((end(edge.from, "from")?, end(edge.to, "to")?))
}

/// An [`Error::InvalidWorkflow`].
pub(crate) fn invalid(message: String) -> Error {
    Error::InvalidWorkflow(message)
}

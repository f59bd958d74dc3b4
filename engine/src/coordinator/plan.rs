//! A workflow spec made ready for the coordinator: children by step (with the slot each
//! fills) and the first parent of each step, computed once per spec and cached.
//!
//! A plan is a pure function of a stored spec, and specs never change once stored, so the
//! cache can never disagree with the store; it is cleared anyway whenever pending state is
//! dropped (an aborted transaction, a revoked partition), so it never holds a plan whose
//! spec was not written.

use std::collections::HashMap;
use std::sync::Arc;

use celeriac_schemas::{Record, WorkflowSpec};
use uuid::Uuid;

use super::error::{Error, Result};
use super::state::{keys, StateAccess, Table};

/// A workflow's spec with its edges indexed.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) spec: WorkflowSpec,
    /// `children[child_start[i]..child_start[i + 1]]` are step `i`'s `(child, slot)` pairs.
    child_start: Vec<u32>,
    children: Vec<(u32, u32)>,
    /// The parent filling slot 0 of each step, if any.
    first_parent: Vec<Option<u32>>,
}

impl Plan {
    /// Indexes a spec whose edges point inside it (checked at submit).
    pub(crate) fn new(spec: WorkflowSpec) -> Self {
        let n = spec.steps.len();
        let mut counts = vec![0u32; n + 1];
        let mut first_parent: Vec<Option<(u32, u32)>> = vec![None; n];
        for edge in &spec.edges {
            let (from, to, slot) = (edge.from as usize, edge.to as usize, edge.slot as u32);
            if from >= n || to >= n {
                continue;
            }
            counts[from + 1] += 1;
            if first_parent[to].is_none_or(|(s, _)| slot < s) {
                first_parent[to] = Some((slot, from as u32));
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut children = vec![(0u32, 0u32); spec.edges.len()];
        for edge in &spec.edges {
            let (from, to) = (edge.from as usize, edge.to as usize);
            if from >= n || to >= n {
                continue;
            }
            children[fill[from] as usize] = (to as u32, edge.slot as u32);
            fill[from] += 1;
        }
        children.truncate(counts[n] as usize);
        Plan {
            spec,
            child_start: counts,
            children,
            first_parent: first_parent
                .into_iter()
                .map(|p| p.map(|(_, parent)| parent))
                .collect(),
        }
    }

    /// How many steps the workflow has.
    pub(crate) fn len(&self) -> usize {
        self.spec.steps.len()
    }

    /// Step `index`'s children with the slot each one's input it fills.
    pub(crate) fn children(&self, index: usize) -> &[(u32, u32)] {
        let (start, end) = (
            self.child_start[index] as usize,
            self.child_start[index + 1] as usize,
        );
        &self.children[start..end]
    }

    /// The task id of the step filling slot 0 of `index`, if any.
    pub(crate) fn parent_task(&self, index: usize) -> Option<Uuid> {
        self.first_parent[index].map(|p| self.spec.steps[p as usize].task_id)
    }
}

/// Plans by workflow id, bounded by the total number of steps held.
#[derive(Debug, Default)]
pub(crate) struct PlanCache {
    plans: HashMap<Uuid, Arc<Plan>>,
    steps: usize,
}

/// Steps held before the cache starts over.
const MAX_CACHED_STEPS: usize = 1 << 20;

impl PlanCache {
    /// The plan of a stored workflow, loading and caching it on a miss.
    pub(crate) fn get<S: StateAccess + ?Sized>(
        &mut self,
        state: &S,
        id: &Uuid,
    ) -> Result<Option<Arc<Plan>>> {
        if let Some(plan) = self.plans.get(id) {
            return Ok(Some(plan.clone()));
        }
        let Some(bytes) = state.get(Table::Specs, &keys::spec(id))? else {
            return Ok(None);
        };
        let spec =
            WorkflowSpec::decode(&bytes).map_err(|e| Error::corrupt("specs", e.to_string()))?;
        Ok(Some(self.insert(Plan::new(spec))))
    }

    /// Caches a plan just built from a spec.
    pub(crate) fn insert(&mut self, plan: Plan) -> Arc<Plan> {
        if self.steps + plan.len() > MAX_CACHED_STEPS {
            self.clear();
        }
        self.steps += plan.len();
        let plan = Arc::new(plan);
        if let Some(old) = self.plans.insert(plan.spec.id, plan.clone()) {
            self.steps -= old.len();
        }
        plan
    }

    /// Forgets every plan.
    pub(crate) fn clear(&mut self) {
        self.plans.clear();
        self.steps = 0;
    }
}

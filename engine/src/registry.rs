//! The tasks an app knows by name, and the routes that send them to queues.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use celeriac_canvas::{Arity, TaskRegistry};

use crate::task::{TaskBody, TaskOptions};
use crate::{Error, Result};

/// A registered task.
pub(crate) struct TaskEntry {
    pub(crate) name: String,
    pub(crate) options: TaskOptions,
    pub(crate) body: TaskBody,
    pub(crate) arity: Arity,
    /// Decodes JSON positional arguments as the task's input type, to refuse a wrong shape
    /// before anything is sent.
    pub(crate) check_json_args: fn(&[u8]) -> std::result::Result<(), crate::TaskError>,
    /// The JSON Schema of each positional argument, when the input type could be traced.
    pub(crate) arg_schemas: Option<Vec<serde_json::Value>>,
}

/// Tasks by name.
#[derive(Default)]
pub(crate) struct Registry {
    tasks: RwLock<HashMap<String, Arc<TaskEntry>>>,
}

impl Registry {
    /// Adds or replaces a task.
    pub(crate) fn register(&self, entry: TaskEntry) -> Result<()> {
        entry.options.validate(&entry.name)?;
        if entry.name.is_empty() {
            return Err(Error::Config("a task needs a non-empty name".into()));
        }
        let mut tasks = self.tasks.write().unwrap_or_else(|p| p.into_inner());
        tasks.insert(entry.name.clone(), Arc::new(entry));
        Ok(())
    }

    /// The task called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<TaskEntry>> {
        self.tasks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Every registered name, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .tasks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }
}

impl TaskRegistry for Registry {
    fn arity(&self, name: &str) -> Option<Arity> {
        self.get(name).map(|entry| entry.arity)
    }
}

/// Celery's `task_routes`: the first glob that matches a task name picks its queue.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    routes: Vec<(String, String)>,
}

impl Routes {
    /// Sends tasks whose names match `pattern` (`*` matches any run of characters) to `queue`.
    pub(crate) fn add(&mut self, pattern: impl Into<String>, queue: impl Into<String>) {
        self.routes.push((pattern.into(), queue.into()));
    }

    /// Every route, pattern and queue, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes.iter().map(|(p, q)| (p.as_str(), q.as_str()))
    }

    /// The queue of `task`, if a route matches.
    pub(crate) fn queue_for(&self, task: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|(pattern, _)| glob_matches(pattern, task))
            .map(|(_, queue)| queue.as_str())
    }
}

/// `*`-only glob matching.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_celery_routes() {
        assert!(glob_matches("math.*", "math.add"));
        assert!(!glob_matches("math.*", "io.fetch"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
        assert!(glob_matches("exact", "exact"));
        assert!(!glob_matches("exact", "exactly"));
        assert!(
            !glob_matches("ab*ba", "aba"),
            "the prefix and suffix may not overlap"
        );
    }

    #[test]
    fn the_first_matching_route_wins() {
        let mut routes = Routes::default();
        routes.add("math.slow_*", "slow");
        routes.add("math.*", "math");
        assert_eq!(routes.queue_for("math.slow_add"), Some("slow"));
        assert_eq!(routes.queue_for("math.add"), Some("math"));
        assert_eq!(routes.queue_for("io.get"), None);
    }
}

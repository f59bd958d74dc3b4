//! Registering task functions: async ones, ones that want their context, blocking ones.

use std::future::Future;
use std::sync::Arc;

use celeriac_canvas::{TaskArgs, TaskRef};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::App;
use crate::registry::TaskEntry;
use crate::task::{decode_input, encode_output, Ctx, Task, TaskBody, TaskError, TaskOptions};
use crate::Result;

impl App {
    /// Registers an async task function with default options and returns its typed handle.
    ///
    /// The input is the positional arguments: a tuple for several, any other type for one.
    pub fn task<In, Out, F, Fut>(&self, name: &str, function: F) -> Result<Task<In, Out>>
    where
        In: TaskArgs + Send + 'static,
        Out: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, TaskError>> + Send + 'static,
    {
        self.task_with(name, TaskOptions::default(), move |_ctx: Ctx, input: In| {
            function(input)
        })
    }

    /// Registers an async task function that receives its [`Ctx`], with `options`.
    pub fn task_with<In, Out, F, Fut>(
        &self,
        name: &str,
        options: TaskOptions,
        function: F,
    ) -> Result<Task<In, Out>>
    where
        In: TaskArgs + Send + 'static,
        Out: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(Ctx, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, TaskError>> + Send + 'static,
    {
        let function = Arc::new(function);
        let handler: crate::task::Handler = Arc::new(move |ctx, content_type, args| {
            let input = decode_input::<In>(content_type, args);
            let function = function.clone();
            Box::pin(async move {
                let output = function(ctx, input?).await?;
                encode_output(content_type, &output)
            })
        });
        self.register(name, options, TaskBody::Async(handler))
    }

    /// Registers a blocking (CPU-bound) task function; workers run it on the blocking pool.
    pub fn blocking_task<In, Out, F>(
        &self,
        name: &str,
        options: TaskOptions,
        function: F,
    ) -> Result<Task<In, Out>>
    where
        In: TaskArgs + Send + 'static,
        Out: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(Ctx, In) -> Result<Out, TaskError> + Send + Sync + 'static,
    {
        let handler: crate::task::BlockingHandler = Arc::new(move |ctx, content_type, args| {
            let output = function(ctx, decode_input::<In>(content_type, args)?)?;
            encode_output(content_type, &output)
        });
        self.register(name, options.cpu_bound(true), TaskBody::Blocking(handler))
    }

    fn register<In: TaskArgs, Out>(
        &self,
        name: &str,
        options: TaskOptions,
        body: TaskBody,
    ) -> Result<Task<In, Out>> {
        let task_ref = TaskRef::<In, Out>::new(name);
        self.inner.registry.register(TaskEntry {
            name: name.to_owned(),
            options,
            body,
            arity: task_ref.arity(),
            check_json_args: check_json_args::<In>,
            arg_schemas: In::arg_schemas(),
        })?;
        Ok(Task::new(self.clone(), task_ref))
    }
}

/// Decodes JSON positional arguments as `In`, keeping only whether it worked.
fn check_json_args<In: TaskArgs>(bytes: &[u8]) -> std::result::Result<(), TaskError> {
    decode_input::<In>(celeriac_schemas::ContentType::Json, bytes).map(drop)
}

impl App {
    /// Checks task `name` and its JSON positional `args` against this process's registry: an
    /// unknown name, a wrong number of arguments or a value of the wrong type is an error
    /// saying so, before anything is sent.
    pub fn check_task_call(&self, name: &str, args: &serde_json::Value) -> Result<()> {
        let Some(entry) = self.inner.registry.get(name) else {
            return Err(crate::Error::UnknownTask(name.to_owned()));
        };
        let canvas =
            celeriac_canvas::Canvas::from_json(&serde_json::json!({"task": name, "args": args}))?;
        canvas.check(&self.inner.registry)?;
        let bytes = serde_json::to_vec(args).map_err(|e| crate::Error::Config(e.to_string()))?;
        (entry.check_json_args)(&bytes).map_err(|error| {
            crate::Error::Config(format!(
                "task `{name}` cannot take these arguments: {}",
                error.message()
            ))
        })
    }

    /// Checks the arguments of every task call in `canvas` that are all its arguments — an
    /// immutable signature's, or one with no parent to prepend a result — as
    /// [`check_task_call`](Self::check_task_call) does. Calls that take a parent's result
    /// are checked when they run.
    pub fn check_canvas_args(&self, canvas: &celeriac_canvas::Canvas) -> Result<()> {
        self.check_args_in(canvas, false)
    }

    fn check_args_in(&self, canvas: &celeriac_canvas::Canvas, has_parent: bool) -> Result<()> {
        use celeriac_canvas::{ArgsMode, CanvasKind};
        match &canvas.kind {
            CanvasKind::Task(call) => {
                let complete = match call.mode {
                    ArgsMode::Immutable => true,
                    ArgsMode::Mutable => !has_parent,
                    ArgsMode::Partial => false,
                };
                if complete {
                    self.check_task_call(&call.task, &serde_json::Value::from(call.args.clone()))?;
                }
            }
            CanvasKind::Chain(steps) => {
                for (i, step) in steps.iter().enumerate() {
                    self.check_args_in(step, has_parent || i > 0)?;
                }
            }
            CanvasKind::Group(members) => {
                for member in members {
                    self.check_args_in(member, has_parent)?;
                }
            }
            CanvasKind::Chord { header, body } => {
                for member in header {
                    self.check_args_in(member, has_parent)?;
                }
                self.check_args_in(body, true)?;
            }
            CanvasKind::Map(_) | CanvasKind::Starmap(_) | CanvasKind::Chunks(_) => {}
        }
        for linked in &canvas.link {
            self.check_args_in(linked, true)?;
        }
        Ok(())
    }
}

//! Progress on stderr for long operations: a spinner with the elapsed time while waiting,
//! drawn only when stderr is a terminal (scripts and tests see clean output).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// A spinner drawn until [`finish`](Self::finish) (or drop).
pub(crate) struct Spinner {
    task: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts drawing `message` with a spinner and the elapsed seconds.
    pub(crate) fn start(message: impl Into<String>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { task: None };
        }
        let message = message.into();
        let task = tokio::spawn(async move {
            const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
            let started = Instant::now();
            let mut ticks = tokio::time::interval(Duration::from_millis(100));
            for frame in FRAMES.iter().cycle() {
                ticks.tick().await;
                let elapsed = started.elapsed().as_secs_f32();
                eprint!("\r{frame} {message} ({elapsed:.1}s)\x1b[K");
                let _ = std::io::stderr().flush();
            }
        });
        Self { task: Some(task) }
    }

    /// Stops and clears the spinner's line.
    pub(crate) fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop();
    }
}

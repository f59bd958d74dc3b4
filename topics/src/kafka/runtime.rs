//! Keeping librdkafka's blocking calls off the async executor threads.

use std::ops::Deref;

use crate::error::{Error, Result};

/// Runs a blocking librdkafka call on tokio's blocking pool and waits for it.
pub(crate) async fn blocking<T, F>(call: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(Error::Closed("async runtime")),
    }
}

/// Owns a librdkafka handle whose drop blocks (a consumer leaving its group, a producer
/// purging its queue, the admin client joining its thread) and drops it on the blocking pool
/// when a tokio runtime is around.
pub(crate) struct OffThread<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> OffThread<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Some(value))
    }
}

impl<T: Send + 'static> Deref for OffThread<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_ref().expect("present until dropped")
    }
}

impl<T: Send + 'static> Drop for OffThread<T> {
    fn drop(&mut self) {
        let Some(value) = self.0.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(value))),
            Err(_) => drop(value),
        }
    }
}

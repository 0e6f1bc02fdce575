//! One shutdown signal for the whole emulator (mini-redis `src/shutdown.rs`,
//! axum's graceful-shutdown example): a cancellation token that every
//! background loop, front door and supervisor watches, and a tracker of the
//! tokio tasks running them, so shutdown can wait until each has ended and
//! name those that did not.
//!
//! Left out: what a loop does when told to stop (each finishes its round
//! and returns; a supervisor leaves its task's containers as they are) and
//! the order of shutdown (`App::shutdown`).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// A cheap handle: clones share one signal and one set of tasks.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
    /// What each running task is, by a number of its own, for the log line
    /// that names the loops that did not stop in time.
    running: Arc<Mutex<BTreeMap<u64, &'static str>>>,
    next: Arc<AtomicU64>,
}

/// Removes a task's name when its future ends or is dropped.
struct Running {
    id: u64,
    names: Arc<Mutex<BTreeMap<u64, &'static str>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Spawns a tracked task. `what` names it in the log when it does not
    /// stop in time. The task must watch [`Shutdown::signalled`] itself (at
    /// the point where it waits for work), so that it ends between two
    /// pieces of work rather than in the middle of one.
    pub fn spawn<F>(&self, what: &'static str, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, what);
        let guard = Running {
            id,
            names: self.running.clone(),
        };
        self.tracker.spawn(async move {
            let _guard = guard;
            task.await
        })
    }

    /// Spawns a tracked task that is dropped where it stands when the
    /// signal comes (for work with no waiting point of its own, like a
    /// supervisor, whose containers are left as they are).
    pub fn spawn_until_signalled<F>(&self, what: &'static str, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let signal = self.signalled();
        self.spawn(what, async move {
            tokio::select! {
                _ = signal => {}
                _ = task => {}
            }
        })
    }

    /// Resolves once shutdown has begun; owned, so it can move into a task.
    pub fn signalled(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    /// Whether shutdown has begun.
    pub fn is_signalled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The token itself, for APIs that take one (axum's graceful shutdown).
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Begins shutdown: every task is told to stop, and no new one may be
    /// waited for after this.
    pub fn signal(&self) {
        self.token.cancel();
        self.tracker.close();
    }

    /// Waits until every tracked task has ended, at most `limit`. On time
    /// out, names the tasks still running (one entry per kind, with a count).
    pub async fn wait(&self, limit: Duration) -> Result<(), Vec<(&'static str, usize)>> {
        if tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
        {
            return Ok(());
        }
        Err(self.running())
    }

    /// The tasks running now: each kind and how many of it.
    pub fn running(&self) -> Vec<(&'static str, usize)> {
        let mut count: BTreeMap<&'static str, usize> = BTreeMap::new();
        for what in self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            *count.entry(what).or_default() += 1;
        }
        count.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_ends_on_the_signal() {
        let s = Shutdown::new();
        let polite = s.signalled();
        s.spawn("polite", async move {
            polite.await;
        });
        s.spawn_until_signalled("dropped", std::future::pending());
        assert_eq!(s.running(), vec![("dropped", 1), ("polite", 1)]);
        s.signal();
        s.wait(Duration::from_secs(1)).await.unwrap();
        assert!(s.running().is_empty());
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_signal_is_named() {
        let s = Shutdown::new();
        s.spawn("deaf", std::future::pending::<()>());
        s.spawn("done", async {});
        s.signal();
        assert_eq!(
            s.wait(Duration::from_millis(50)).await,
            Err(vec![("deaf", 1)])
        );
    }
}

//! The backend skeleton: a service's state in memory behind one std mutex,
//! the store beside it, and the one way to change them together.
//!
//! [`Backend::update`] takes a function that sees the state read-only and
//! returns a [`Change`]: the answer, the store writes, and what to do to the
//! state in memory. The writes are made first; only when they succeed is the
//! change applied and the answer given. So validation cannot half-happen,
//! a failed write leaves memory as it was, and an error answer means nothing
//! changed.
//!
//! The mutex is std's, not tokio's: it is held only for synchronous work
//! (validation, one SQLite transaction), never across an `.await` (clippy's
//! `await_holding_lock` is denied).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::error::AwsError;
use crate::store::{Op, Store, StoreError};

/// One service's state and store.
pub struct Backend<S> {
    state: Mutex<S>,
    store: Store,
    account: String,
    /// Every document kind of the service starts with this (`ssm.`), so
    /// reset can clear them.
    prefix: &'static str,
    /// Counts the changes made to the state through [`Backend::update`] and
    /// [`Backend::reset`] (not those made under [`Backend::lock`]), so that
    /// what is derived from a state changed only that way (IAM's) can be
    /// cached against it.
    revision: AtomicU64,
}

/// What an update does once its writes are stored.
type Apply<'a, S> = Box<dyn FnOnce(&mut S) + 'a>;

/// A change decided on under the lock: the answer, the store writes, and the
/// change to the state in memory, made only after the writes succeed.
#[must_use = "a Change does nothing until Backend::update applies it"]
pub struct Change<'a, S, R> {
    answer: R,
    ops: Vec<Op<'static>>,
    apply: Option<Apply<'a, S>>,
}

impl<'a, S: 'a, R> Change<'a, S, R> {
    /// A change that only answers (nothing to store, nothing to apply).
    pub fn answer(answer: R) -> Self {
        Change {
            answer,
            ops: Vec::new(),
            apply: None,
        }
    }

    /// Adds a store write.
    pub fn write(mut self, op: Op<'static>) -> Self {
        self.ops.push(op);
        self
    }

    /// Adds store writes.
    pub fn writes(mut self, ops: impl IntoIterator<Item = Op<'static>>) -> Self {
        self.ops.extend(ops);
        self
    }

    /// What to do to the state once the writes are stored.
    pub fn then(mut self, f: impl FnOnce(&mut S) + 'a) -> Self {
        let prev = self.apply.take();
        self.apply = Some(Box::new(move |s: &mut S| {
            if let Some(p) = prev {
                p(s);
            }
            f(s);
        }));
        self
    }
}

impl<S: Default> Backend<S> {
    pub fn new(store: Store, account: impl Into<String>, prefix: &'static str, state: S) -> Self {
        Backend {
            state: Mutex::new(state),
            store,
            account: account.into(),
            prefix,
            revision: AtomicU64::new(0),
        }
    }

    /// The state's revision: it moves on with every update that changes the
    /// state and every reset, under the lock, so read inside
    /// [`Backend::read`] it is the revision of the state read.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// The state, locked. A poisoned lock is taken over: every change is
    /// applied whole after its writes, so a panic cannot leave half of one.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the state under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.lock())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Writes `ops` in one transaction, as the service's error on failure.
    pub fn commit<E: AwsError>(&self, ops: Vec<Op<'_>>) -> Result<(), E> {
        self.store.write(ops).map_err(E::store_failed)
    }

    /// Validate, write, apply: `decide` sees the state and returns a
    /// [`Change`] or an error; the change's writes are stored, and only then
    /// is it applied to the state. An error from either step leaves
    /// everything as it was.
    pub fn update<'a, R, E: AwsError>(
        &self,
        decide: impl FnOnce(&S) -> Result<Change<'a, S, R>, E>,
    ) -> Result<R, E> {
        let mut st = self.lock();
        let change = decide(&st)?;
        self.commit(change.ops)?;
        if let Some(apply) = change.apply {
            apply(&mut st);
            self.revision.fetch_add(1, Ordering::Release);
        }
        Ok(change.answer)
    }

    /// Forgets everything: the service's documents, then its state.
    pub fn reset<E: AwsError>(&self) -> Result<(), E> {
        let mut st = self.lock();
        self.store
            .clear_prefix(self.prefix)
            .map_err(E::store_failed)?;
        *st = S::default();
        self.revision.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// Loads every document of `kind`, for a backend's `load`.
pub fn load<T: serde::de::DeserializeOwned>(
    store: &Store,
    kind: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    store.load(kind)
}

/// The region of a document key `<region>/<rest>`.
pub fn region_of(key: &str) -> &str {
    key.split_once('/').map_or("", |(r, _)| r)
}

/// State partitioned by region, as AWS partitions it.
#[derive(Debug, Clone)]
pub struct Regional<T>(HashMap<String, T>);

impl<T> Default for Regional<T> {
    fn default() -> Self {
        Regional(HashMap::new())
    }
}

impl<T: Default> Regional<T> {
    /// The region's state, if it has any.
    pub fn get(&self, region: &str) -> Option<&T> {
        self.0.get(region)
    }

    /// The region's state, made empty on first use.
    pub fn get_mut(&mut self, region: &str) -> &mut T {
        if !self.0.contains_key(region) {
            self.0.insert(region.to_string(), T::default());
        }
        self.0.get_mut(region).expect("inserted above")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.0.iter()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.0.values()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.0.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, thiserror::Error)]
    enum TestError {
        #[error("bad: {0}")]
        Bad(String),
        #[error("store: {0}")]
        Store(String),
    }

    impl AwsError for TestError {
        fn code(&self) -> &'static str {
            match self {
                TestError::Bad(_) => "ValidationException",
                TestError::Store(_) => "InternalFailure",
            }
        }
        fn is_server_fault(&self) -> bool {
            matches!(self, TestError::Store(_))
        }
        fn store_failed(e: StoreError) -> Self {
            TestError::Store(e.to_string())
        }
    }

    type State = Regional<BTreeMap<String, i32>>;

    fn put(b: &Backend<State>, name: &str, v: i32) -> Result<i32, TestError> {
        b.update(|st| {
            if v < 0 {
                return Err(TestError::Bad(format!("{v} is negative")));
            }
            let old = st.get("r").and_then(|m| m.get(name)).copied().unwrap_or(0);
            let name = name.to_string();
            Ok(Change::answer(old)
                .write(Op::put("t.n", format!("r/{name}"), &v))
                .then(move |st: &mut State| {
                    st.get_mut("r").insert(name, v);
                }))
        })
    }

    fn snapshot(b: &Backend<State>) -> BTreeMap<String, i32> {
        b.read(|s| s.get("r").cloned().unwrap_or_default())
    }

    #[test]
    fn an_error_changes_nothing() {
        let b = Backend::new(Store::in_memory(), "1", "t.", State::default());
        assert_eq!(put(&b, "a", 1).unwrap(), 0);
        assert_eq!(put(&b, "a", 2).unwrap(), 1);
        let before = snapshot(&b);
        // Refused by validation.
        assert_eq!(put(&b, "a", -1).unwrap_err().code(), "ValidationException");
        assert_eq!(snapshot(&b), before);
        // Refused by the store.
        b.store().fail_writes(true);
        let e = put(&b, "a", 3).unwrap_err();
        assert_eq!((e.code(), e.status()), ("InternalFailure", 500));
        assert_eq!(snapshot(&b), before);
        b.store().fail_writes(false);
        assert_eq!(put(&b, "a", 3).unwrap(), 2);
        // Reset refuses too while the store fails, and keeps the state.
        b.store().fail_writes(true);
        assert!(b.reset::<TestError>().is_err());
        assert_eq!(snapshot(&b).len(), 1);
        b.store().fail_writes(false);
        b.reset::<TestError>().unwrap();
        assert!(snapshot(&b).is_empty());
    }

    #[test]
    fn writes_reach_a_durable_store() {
        let dir = std::env::temp_dir().join(format!("fl-kit-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&dir, false).unwrap();
        let b = Backend::new(store.clone(), "1", "t.", State::default());
        put(&b, "a", 7).unwrap();
        let docs: Vec<(String, i32)> = load(&store, "t.n").unwrap();
        assert_eq!(docs, vec![("r/a".to_string(), 7)]);
        assert_eq!(region_of(&docs[0].0), "r");
        drop((b, store));
        std::fs::remove_dir_all(dir).unwrap();
    }
}

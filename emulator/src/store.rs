//! The durable document store every service writes through.
//!
//! Each service keeps its working state in memory and, while it still holds its
//! own lock, writes the changed documents here before it answers. Documents are
//! JSON values grouped by `kind` and addressed by `key`. The default backend is
//! SQLite in WAL mode with `synchronous=NORMAL`: a committed write is in the
//! operating system's hands before the response leaves, so it survives a crash
//! or `kill -9` of the emulator (not a power cut; `--fsync` buys that at the
//! cost of one fsync per write). `Store::in_memory` keeps nothing.
//!
//! Copying the write-ahead log back into the database file (a checkpoint,
//! with two fsyncs) is left to a thread of its own with its own connection,
//! instead of SQLite's default of doing it inside whichever commit crosses
//! 1000 pages: that commit runs under the caller's lock, and every request
//! queued behind it would wait for the disk.
//!
//! Services that need their own tables (log events, S3 objects) reach the
//! connection through [`Store::with_conn`]; everything else uses documents.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state document {kind}/{key} is not valid: {source}")]
    Decode {
        kind: String,
        key: String,
        source: serde_json::Error,
    },
    #[error("state directory {0}: {1}")]
    Io(String, std::io::Error),
    /// Writes were switched off with [`Store::fail_writes`] (tests).
    #[error("state database: writes are failing")]
    WritesFailing,
}

/// One change inside a batch.
pub enum Op<'a> {
    Put {
        kind: &'a str,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        kind: &'a str,
        key: String,
    },
}

impl<'a> Op<'a> {
    pub fn put<T: Serialize>(kind: &'a str, key: impl Into<String>, value: &T) -> Self {
        Op::Put {
            kind,
            key: key.into(),
            // Serializing our own types to a Vec cannot fail.
            value: serde_json::to_vec(value).expect("state documents serialize"),
        }
    }
    pub fn delete(kind: &'a str, key: impl Into<String>) -> Self {
        Op::Delete {
            kind,
            key: key.into(),
        }
    }
}

/// A cheap handle; clones share one connection.
#[derive(Clone)]
pub struct Store {
    durable: Option<Arc<Durable>>,
    /// While set, every write fails with [`StoreError::WritesFailing`]: the
    /// hook that lets tests prove an operation whose write fails changes
    /// nothing. Shared by clones.
    failing: Arc<std::sync::atomic::AtomicBool>,
}

struct Durable {
    // A std mutex: it is only held for the duration of a synchronous SQLite
    // call, never across an `.await`.
    conn: Mutex<Connection>,
    _checkpoints: Checkpoints,
}

/// Commits between two checkpoint requests. A document commit adds two or
/// three pages to the log, so this is about SQLite's own 1000 pages.
const COMMITS_PER_CHECKPOINT: u32 = 400;
/// The log size (in pages, 256 MiB) past which a checkpoint waits for the
/// writer once, so that the log can start over. A log checkpointed whole
/// starts over at the next write anyway, which happens as soon as writes
/// pause; only a long unbroken stream of writes grows it this far, and
/// until then no write waits for the disk.
const RESTART_PAGES: i64 = 64 * 1024;

/// The checkpoint thread's side of the store: the commit hook counts
/// commits and wakes the thread every [`COMMITS_PER_CHECKPOINT`]; the thread
/// ends when the store is dropped.
struct Checkpoints {
    _wake: SyncSender<()>,
}

impl Checkpoints {
    /// Starts the thread. It owns a second connection to the database, so a
    /// checkpoint never waits for the store's mutex, nor the store for it.
    fn start(path: PathBuf, conn: &Connection) -> Result<Checkpoints, StoreError> {
        let own = Connection::open(&path)?;
        own.pragma_update(None, "busy_timeout", 5000)?;
        // The thread does them all; SQLite's automatic ones would run inside
        // a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let counter = AtomicU32::new(0);
        let nudge = wake.clone();
        conn.commit_hook(Some(move || {
            if counter.fetch_add(1, Ordering::Relaxed) + 1 >= COMMITS_PER_CHECKPOINT {
                counter.store(0, Ordering::Relaxed);
                // Full: one is already pending.
                if let Err(TrySendError::Disconnected(())) = nudge.try_send(()) {
                    tracing::warn!("the state database checkpoint thread has ended");
                }
            }
            false
        }));
        std::thread::Builder::new()
            .name("fargate-local-checkpoint".into())
            .spawn(move || {
                // After a checkpoint that could not copy the whole log (it was
                // being written to), one more once writes pause, so that the
                // log starts over at the next write.
                let mut behind = false;
                loop {
                    let woken = if behind {
                        rx.recv_timeout(Duration::from_millis(200))
                    } else {
                        rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                    };
                    if let Err(RecvTimeoutError::Disconnected) = woken {
                        break;
                    }
                    behind = !checkpoint(&own);
                }
            })
            .map_err(|e| StoreError::Io(path.display().to_string(), e))?;
        Ok(Checkpoints { _wake: wake })
    }
}

/// A passive checkpoint (copies what it can, waits for nobody), escalated
/// to a restart when the log has grown past [`RESTART_PAGES`]. Returns
/// false when part of the log is left to copy (not after an error, which is
/// logged and left to the next request).
fn checkpoint(conn: &Connection) -> bool {
    let run = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
    };
    match run("PASSIVE") {
        Ok((log, done)) if log >= RESTART_PAGES && done < log => match run("RESTART") {
            Ok((log, done)) => done >= log,
            Err(e) => {
                tracing::warn!(error = %e, "state database checkpoint (restart) failed");
                true
            }
        },
        Ok((log, done)) => done >= log,
        Err(e) => {
            tracing::warn!(error = %e, "state database checkpoint failed");
            true
        }
    }
}

impl Store {
    /// Opens (or creates) `dir/state.db`.
    pub fn open(dir: &Path, fsync: bool) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(dir.display().to_string(), e))?;
        let path = dir.join("state.db");
        // Creating a database costs half a dozen fsyncs (switching to WAL
        // goes through a rollback journal), tens of milliseconds on a busy
        // disk before the first request can be answered. Without --fsync the
        // promise is to survive a crash of the process, which needs no
        // fsync: a new database is set up without them and synced by a
        // background thread right after, so a power cut cannot leave it
        // half-made for long.
        let fresh = !fsync && !path.exists();
        let conn = Connection::open(&path)?;
        if fresh {
            conn.pragma_update(None, "synchronous", "OFF")?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        if !fresh {
            conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
        }
        conn.pragma_update(None, "busy_timeout", 5000)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS documents (
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (kind, key)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS meta (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );",
        )?;
        // The log file is truncated to this after it starts over.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        if fresh {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let dir = dir.to_path_buf();
            std::thread::spawn(move || {
                for name in ["state.db", "state.db-wal", ""] {
                    if let Ok(f) = std::fs::File::open(dir.join(name)) {
                        let _ = f.sync_all();
                    }
                }
            });
        }
        let checkpoints = Checkpoints::start(path, &conn)?;
        Ok(Store {
            durable: Some(Arc::new(Durable {
                conn: Mutex::new(conn),
                _checkpoints: checkpoints,
            })),
            failing: Default::default(),
        })
    }

    pub fn in_memory() -> Store {
        Store {
            durable: None,
            failing: Default::default(),
        }
    }

    /// Makes every write fail (`true`) or work again (`false`), in memory
    /// and durable stores alike. For tests of atomicity: an operation whose
    /// write fails must answer an error and change nothing.
    pub fn fail_writes(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    /// Fails while writes are switched off. Services with their own tables
    /// (the log store) call it inside their transactions, so that
    /// [`Store::fail_writes`] reaches them too.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(StoreError::WritesFailing);
        }
        Ok(())
    }

    pub fn is_durable(&self) -> bool {
        self.durable.is_some()
    }

    /// Runs `f` on the connection, if there is one. Used by services with
    /// their own tables; they create them with `CREATE TABLE IF NOT EXISTS`.
    pub fn with_conn<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<Option<R>, StoreError> {
        match &self.durable {
            None => Ok(None),
            Some(d) => {
                let mut conn = d.conn.lock().unwrap_or_else(|p| p.into_inner());
                Ok(Some(f(&mut conn)?))
            }
        }
    }

    /// Every document of one kind, decoded. Used once, at start-up.
    pub fn load<T: DeserializeOwned>(&self, kind: &str) -> Result<Vec<(String, T)>, StoreError> {
        let rows = self
            .with_conn(|c| {
                let mut stmt =
                    c.prepare("SELECT key, value FROM documents WHERE kind = ?1 ORDER BY key")?;
                let rows = stmt
                    .query_map(params![kind], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })?
            .unwrap_or_default();
        rows.into_iter()
            .map(|(key, bytes)| {
                let value =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::Decode {
                        kind: kind.to_string(),
                        key: key.clone(),
                        source,
                    })?;
                Ok((key, value))
            })
            .collect()
    }

    pub fn put<T: Serialize>(&self, kind: &str, key: &str, value: &T) -> Result<(), StoreError> {
        self.write(vec![Op::put(kind, key, value)])
    }

    pub fn delete(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        self.write(vec![Op::delete(kind, key)])
    }

    /// Applies a batch atomically.
    pub fn write(&self, ops: Vec<Op<'_>>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.check_writable()?;
        self.with_conn(|c| {
            // One statement is a transaction of its own; BEGIN and COMMIT
            // would cost two more statements (and parses) per write.
            if let [op] = ops.as_slice() {
                return apply(c, op);
            }
            let tx = c.transaction()?;
            for op in &ops {
                apply(&tx, op)?;
            }
            tx.commit()
        })?;
        Ok(())
    }

    /// Removes every document whose kind starts with `prefix` (used by reset).
    pub fn clear_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        self.with_conn(|c| {
            c.execute(
                "DELETE FROM documents WHERE substr(kind, 1, length(?1)) = ?1",
                params![prefix],
            )
        })?;
        Ok(())
    }

    pub fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .with_conn(|c| {
                c.query_row(
                    "SELECT value FROM meta WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .optional()
            })?
            .flatten())
    }

    pub fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.check_writable()?;
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
        })?;
        Ok(())
    }
}

/// One change, through statements prepared once per connection.
fn apply(c: &Connection, op: &Op<'_>) -> rusqlite::Result<()> {
    match op {
        Op::Put { kind, key, value } => {
            c.prepare_cached(
                "INSERT INTO documents (kind, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![kind, key, value])?;
        }
        Op::Delete { kind, key } => {
            c.prepare_cached("DELETE FROM documents WHERE kind = ?1 AND key = ?2")?
                .execute(params![kind, key])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("fl-store-{}", uuid::Uuid::new_v4()));
        {
            let s = Store::open(&dir, false).unwrap();
            s.put("k", "a", &serde_json::json!({"x": 1})).unwrap();
            s.put("k", "b", &serde_json::json!({"x": 2})).unwrap();
            s.delete("k", "a").unwrap();
            s.set_meta("instance", "abc").unwrap();
        }
        let s = Store::open(&dir, false).unwrap();
        let docs: Vec<(String, serde_json::Value)> = s.load("k").unwrap();
        assert_eq!(docs, vec![("b".to_string(), serde_json::json!({"x": 2}))]);
        assert_eq!(s.meta("instance").unwrap().as_deref(), Some("abc"));
        s.clear_prefix("k").unwrap();
        assert!(s.load::<serde_json::Value>("k").unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_log_is_checkpointed_off_the_writing_thread() {
        let dir = std::env::temp_dir().join(format!("fl-store-{}", uuid::Uuid::new_v4()));
        let s = Store::open(&dir, false).unwrap();
        let size = || std::fs::metadata(dir.join("state.db")).unwrap().len();
        let before = size();
        for i in 0..COMMITS_PER_CHECKPOINT * 2 {
            s.put(
                "k",
                &format!("{i:05}"),
                &serde_json::json!({ "pad": "x".repeat(500) }),
            )
            .unwrap();
        }
        // Nothing reaches the database file but through a checkpoint.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() == before && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(size() > before, "no checkpoint ran");
        drop(s);
        let s = Store::open(&dir, false).unwrap();
        let docs: Vec<(String, serde_json::Value)> = s.load("k").unwrap();
        assert_eq!(docs.len(), (COMMITS_PER_CHECKPOINT * 2) as usize);
        drop(s);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn in_memory_keeps_nothing() {
        let s = Store::in_memory();
        s.put("k", "a", &1).unwrap();
        assert!(s.load::<i32>("k").unwrap().is_empty());
    }
}

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
//! Services that need their own tables (log events, S3 objects) reach the
//! connection through [`Store::with_conn`]; everything else uses documents.

use std::path::Path;
use std::sync::{Arc, Mutex};

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
    // A std mutex: it is only held for the duration of a synchronous SQLite
    // call, never across an `.await`.
    conn: Option<Arc<Mutex<Connection>>>,
}

impl Store {
    /// Opens (or creates) `dir/state.db`.
    pub fn open(dir: &Path, fsync: bool) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(dir.display().to_string(), e))?;
        let conn = Connection::open(dir.join("state.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
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
        Ok(Store {
            conn: Some(Arc::new(Mutex::new(conn))),
        })
    }

    pub fn in_memory() -> Store {
        Store { conn: None }
    }

    pub fn is_durable(&self) -> bool {
        self.conn.is_some()
    }

    /// Runs `f` on the connection, if there is one. Used by services with
    /// their own tables; they create them with `CREATE TABLE IF NOT EXISTS`.
    pub fn with_conn<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<Option<R>, StoreError> {
        match &self.conn {
            None => Ok(None),
            Some(conn) => {
                let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
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
        self.with_conn(|c| {
            let tx = c.transaction()?;
            {
                let mut put = tx.prepare_cached(
                    "INSERT INTO documents (kind, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                )?;
                let mut del =
                    tx.prepare_cached("DELETE FROM documents WHERE kind = ?1 AND key = ?2")?;
                for op in &ops {
                    match op {
                        Op::Put { kind, key, value } => {
                            put.execute(params![kind, key, value])?;
                        }
                        Op::Delete { kind, key } => {
                            del.execute(params![kind, key])?;
                        }
                    }
                }
            }
            tx.commit()
        })?;
        Ok(())
    }

    /// Removes every document whose kind starts with `prefix` (used by reset).
    pub fn clear_prefix(&self, prefix: &str) -> Result<(), StoreError> {
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
    fn in_memory_keeps_nothing() {
        let s = Store::in_memory();
        s.put("k", "a", &1).unwrap();
        assert!(s.load::<i32>("k").unwrap().is_empty());
    }
}

//! The log store's tables and statements. Log groups, streams and events
//! live in three tables of the state database (durable mode) or of a
//! private in-memory SQLite database (in-memory mode), so both modes run
//! the same SQL.
//!
//! Events are appended a batch per transaction through one prepared
//! statement: a PutLogEvents call of 10,000 events, or the awslogs driver's
//! batch of a few hundred milliseconds, is one commit. Reads walk the
//! `(stream, timestamp, id)` and `(group, timestamp, id)` indexes; a
//! position in either is `(timestamp, id)`, which is what the paging tokens
//! carry.
//!
//! An operation's statements run in one transaction ([`Db::write`]): what
//! it reads to validate and everything it writes commit together or not at
//! all, and the store's write switch (`Store::fail_writes`) reaches these
//! tables as it reaches the documents.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::error::LogsError;
use crate::services::kit::AwsError;
use crate::store::Store;

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS logs_groups (
    gid INTEGER PRIMARY KEY,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    retention INTEGER,
    kms TEXT,
    class TEXT NOT NULL,
    tags TEXT NOT NULL,
    deletion_protection INTEGER NOT NULL DEFAULT 0,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (region, name)
);
CREATE TABLE IF NOT EXISTS logs_streams (
    sid INTEGER PRIMARY KEY,
    gid INTEGER NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    first_ts INTEGER,
    last_ts INTEGER,
    last_ingest INTEGER,
    UNIQUE (gid, name)
);
CREATE TABLE IF NOT EXISTS logs_events (
    eid INTEGER PRIMARY KEY AUTOINCREMENT,
    gid INTEGER NOT NULL,
    sid INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    ingest INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_events_by_stream ON logs_events (sid, ts, eid);
CREATE INDEX IF NOT EXISTS logs_events_by_group ON logs_events (gid, ts, eid);
";

/// Where the tables live, and the store whose write switch they obey.
pub struct Db {
    store: Store,
    /// The private in-memory database; `None` in durable mode, where the
    /// tables are in the store's own database.
    own: Option<Mutex<Connection>>,
}

impl Db {
    pub fn open(store: &Store) -> Result<Db, LogsError> {
        let own = if store.is_durable() {
            None
        } else {
            Some(Mutex::new(Connection::open_in_memory()?))
        };
        let db = Db {
            store: store.clone(),
            own,
        };
        db.read(|c| c.execute_batch(SCHEMA))?;
        Ok(db)
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, LogsError>,
    ) -> Result<R, LogsError> {
        match &self.own {
            None => self
                .store
                .with_conn(|c| Ok(f(c)))
                .map_err(LogsError::store_failed)?
                .ok_or_else(|| LogsError::ServiceUnavailable("The log store is closed.".into()))?,
            Some(conn) => f(&mut conn.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }

    /// Runs reads (or the schema) on the connection.
    pub fn read<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, LogsError> {
        self.with(|c| Ok(f(c)?))
    }

    /// Runs one operation's reads and writes as one transaction: `f` looks,
    /// validates and writes; its error, or writes being switched off
    /// ([`Store::fail_writes`], checked after `f`'s statements have run),
    /// rolls back everything it wrote. So an operation that answers an
    /// error has changed nothing, however many statements it made.
    pub fn write<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, LogsError>,
    ) -> Result<R, LogsError> {
        self.with(|c| {
            // IMMEDIATE: the write lock from the start, so the reads that
            // validate see what the writes will change.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let r = f(&tx)?;
            self.store
                .check_writable()
                .map_err(LogsError::store_failed)?;
            tx.commit()?;
            Ok(r)
        })
    }
}

#[derive(Debug, Clone)]
pub struct GroupRow {
    pub gid: i64,
    pub name: String,
    pub created: i64,
    pub retention: Option<i32>,
    pub kms: Option<String>,
    pub class: String,
    pub tags: BTreeMap<String, String>,
    pub deletion_protection: bool,
    pub stored_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct StreamRow {
    pub sid: i64,
    pub name: String,
    pub created: i64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub last_ingest: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub eid: i64,
    pub sid: i64,
    pub ts: i64,
    pub ingest: i64,
    pub message: String,
}

const GROUP_COLS: &str =
    "gid, name, created, retention, kms, class, tags, deletion_protection, stored_bytes";

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupRow> {
    let tags: String = r.get(6)?;
    Ok(GroupRow {
        gid: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        retention: r.get(3)?,
        kms: r.get(4)?,
        class: r.get(5)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        deletion_protection: r.get::<_, i64>(7)? != 0,
        stored_bytes: r.get(8)?,
    })
}

const STREAM_COLS: &str = "sid, name, created, first_ts, last_ts, last_ingest";

fn stream_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StreamRow> {
    Ok(StreamRow {
        sid: r.get(0)?,
        name: r.get(1)?,
        created: r.get(2)?,
        first_ts: r.get(3)?,
        last_ts: r.get(4)?,
        last_ingest: r.get(5)?,
    })
}

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        eid: r.get(0)?,
        sid: r.get(1)?,
        ts: r.get(2)?,
        ingest: r.get(3)?,
        message: r.get(4)?,
    })
}

pub fn group(c: &Connection, region: &str, name: &str) -> rusqlite::Result<Option<GroupRow>> {
    c.prepare_cached(&format!(
        "SELECT {GROUP_COLS} FROM logs_groups WHERE region = ?1 AND name = ?2"
    ))?
    .query_row(params![region, name], group_row)
    .optional()
}

/// Groups of a region in name order, after `after`, at most `limit`.
pub fn groups(
    c: &Connection,
    region: &str,
    after: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<GroupRow>> {
    c.prepare_cached(&format!(
        "SELECT {GROUP_COLS} FROM logs_groups WHERE region = ?1 AND name > ?2 ORDER BY name LIMIT ?3"
    ))?
    .query_map(
        params![region, after.unwrap_or(""), limit as i64],
        group_row,
    )?
    .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn insert_group(
    c: &Connection,
    region: &str,
    name: &str,
    created: i64,
    kms: Option<&str>,
    class: &str,
    tags: &BTreeMap<String, String>,
    deletion_protection: bool,
) -> rusqlite::Result<bool> {
    let n = c
        .prepare_cached(
            "INSERT INTO logs_groups (region, name, created, kms, class, tags, deletion_protection)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            region,
            name,
            created,
            kms,
            class,
            serde_json::to_string(tags).unwrap_or_else(|_| "{}".into()),
            deletion_protection as i64
        ])?;
    Ok(n == 1)
}

/// Deletes a group with its streams and events (inside the caller's
/// transaction).
pub fn delete_group(c: &Connection, gid: i64) -> rusqlite::Result<()> {
    c.execute("DELETE FROM logs_events WHERE gid = ?1", params![gid])?;
    c.execute("DELETE FROM logs_streams WHERE gid = ?1", params![gid])?;
    c.execute("DELETE FROM logs_groups WHERE gid = ?1", params![gid])?;
    Ok(())
}

pub fn set_retention(c: &Connection, gid: i64, days: Option<i32>) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE logs_groups SET retention = ?2 WHERE gid = ?1",
        params![gid, days],
    )?;
    Ok(())
}

pub fn set_tags(c: &Connection, gid: i64, tags: &BTreeMap<String, String>) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE logs_groups SET tags = ?2 WHERE gid = ?1",
        params![
            gid,
            serde_json::to_string(tags).unwrap_or_else(|_| "{}".into())
        ],
    )?;
    Ok(())
}

pub fn stream(c: &Connection, gid: i64, name: &str) -> rusqlite::Result<Option<StreamRow>> {
    c.prepare_cached(&format!(
        "SELECT {STREAM_COLS} FROM logs_streams WHERE gid = ?1 AND name = ?2"
    ))?
    .query_row(params![gid, name], stream_row)
    .optional()
}

pub fn streams(c: &Connection, gid: i64) -> rusqlite::Result<Vec<StreamRow>> {
    c.prepare_cached(&format!(
        "SELECT {STREAM_COLS} FROM logs_streams WHERE gid = ?1 ORDER BY name"
    ))?
    .query_map(params![gid], stream_row)?
    .collect()
}

pub fn insert_stream(c: &Connection, gid: i64, name: &str, created: i64) -> rusqlite::Result<bool> {
    let n = c
        .prepare_cached(
            "INSERT INTO logs_streams (gid, name, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?
        .execute(params![gid, name, created])?;
    Ok(n == 1)
}

/// Deletes a stream with its events (inside the caller's transaction).
pub fn delete_stream(c: &Connection, sid: i64) -> rusqlite::Result<()> {
    c.execute("DELETE FROM logs_events WHERE sid = ?1", params![sid])?;
    c.execute("DELETE FROM logs_streams WHERE sid = ?1", params![sid])?;
    Ok(())
}

/// Appends events (already in timestamp order) to a stream and updates the
/// stream's and group's summaries, inside the caller's transaction (one
/// batch, one commit). Returns the id of the last event.
pub fn append(
    c: &Connection,
    gid: i64,
    sid: i64,
    ingest: i64,
    events: &[(i64, &str)],
) -> rusqlite::Result<i64> {
    let mut last = 0;
    let mut bytes = 0i64;
    {
        let mut ins = c.prepare_cached(
            "INSERT INTO logs_events (gid, sid, ts, ingest, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (ts, msg) in events {
            ins.execute(params![gid, sid, ts, ingest, msg])?;
            bytes += msg.len() as i64;
        }
        last = last.max(c.last_insert_rowid());
    }
    if let (Some(first), Some(lastev)) = (events.first(), events.last()) {
        c.prepare_cached(
            "UPDATE logs_streams SET
                first_ts = min(coalesce(first_ts, ?2), ?2),
                last_ts = max(coalesce(last_ts, ?3), ?3),
                last_ingest = ?4
             WHERE sid = ?1",
        )?
        .execute(params![sid, first.0, lastev.0, ingest])?;
        c.prepare_cached("UPDATE logs_groups SET stored_bytes = stored_bytes + ?2 WHERE gid = ?1")?
            .execute(params![gid, bytes])?;
    }
    Ok(last)
}

/// A position in an index: events sort by `(ts, eid)`.
pub type Pos = (i64, i64);

/// Events of one stream after `from` (ascending) or before it (the last
/// `limit` before it, returned ascending), within `[lo, hi)`.
pub fn stream_events(
    c: &Connection,
    sid: i64,
    from: Pos,
    forward: bool,
    lo: i64,
    hi: i64,
    limit: usize,
) -> rusqlite::Result<Vec<EventRow>> {
    let sql = if forward {
        "SELECT eid, sid, ts, ingest, message FROM logs_events
         WHERE sid = ?1 AND (ts, eid) > (?2, ?3) AND ts >= ?4 AND ts < ?5
         ORDER BY ts, eid LIMIT ?6"
    } else {
        "SELECT eid, sid, ts, ingest, message FROM logs_events
         WHERE sid = ?1 AND (ts, eid) < (?2, ?3) AND ts >= ?4 AND ts < ?5
         ORDER BY ts DESC, eid DESC LIMIT ?6"
    };
    let mut rows: Vec<EventRow> = c
        .prepare_cached(sql)?
        .query_map(
            params![sid, from.0, from.1, lo, hi, limit as i64],
            event_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    if !forward {
        rows.reverse();
    }
    Ok(rows)
}

/// Events of one group after `from`, ascending, within `[lo, hi]`.
pub fn group_events(
    c: &Connection,
    gid: i64,
    from: Pos,
    lo: i64,
    hi: i64,
    limit: usize,
) -> rusqlite::Result<Vec<EventRow>> {
    c.prepare_cached(
        "SELECT eid, sid, ts, ingest, message FROM logs_events
         WHERE gid = ?1 AND (ts, eid) > (?2, ?3) AND ts >= ?4 AND ts <= ?5
         ORDER BY ts, eid LIMIT ?6",
    )?
    .query_map(
        params![gid, from.0, from.1, lo, hi, limit as i64],
        event_row,
    )?
    .collect()
}

/// The last position of a stream within `[lo, hi)`, if it has events there.
pub fn stream_end(c: &Connection, sid: i64, lo: i64, hi: i64) -> rusqlite::Result<Option<Pos>> {
    c.prepare_cached(
        "SELECT ts, eid FROM logs_events WHERE sid = ?1 AND ts >= ?2 AND ts < ?3
         ORDER BY ts DESC, eid DESC LIMIT 1",
    )?
    .query_row(params![sid, lo, hi], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()
}

/// Deletes the events that their group's retention has expired; returns how
/// many went.
pub fn expire(c: &Connection, now: i64) -> rusqlite::Result<usize> {
    let groups: Vec<(i64, i64)> = c
        .prepare_cached("SELECT gid, retention FROM logs_groups WHERE retention IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut n = 0;
    for (gid, days) in groups {
        let cutoff = now - days * super::DAY_MS;
        n += c
            .prepare_cached("DELETE FROM logs_events WHERE gid = ?1 AND ts < ?2")?
            .execute(params![gid, cutoff])?;
    }
    Ok(n)
}

pub fn clear(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch("DELETE FROM logs_events; DELETE FROM logs_streams; DELETE FROM logs_groups;")
}

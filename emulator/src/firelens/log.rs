//! The router's own log lines, in Fluent Bit's shape:
//! `[2026/12/01 00:00:00] [ info] [engine] started`. They go to stderr so
//! that the `stdout` output owns stdout. Deliberately not `tracing`: the
//! point is to look like the program it stands in for.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// `Log_Level` of `[SERVICE]`: error, warn, info, debug, trace, off.
pub fn set_level(name: &str) -> bool {
    let l = match name.to_ascii_lowercase().as_str() {
        "off" => 0,
        "error" => 1,
        "warn" | "warning" => 2,
        "info" => 3,
        "debug" | "trace" => 4,
        _ => return false,
    };
    LEVEL.store(l, Ordering::Relaxed);
    true
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// The line as printed (without the newline); public for tests.
pub fn format_line(level: Level, scope: &str, msg: &str) -> String {
    let now = chrono::Utc::now().format("%Y/%m/%d %H:%M:%S");
    let tag = match level {
        Level::Error => "error",
        Level::Warn => " warn",
        Level::Info => " info",
        Level::Debug => "debug",
    };
    format!("[{now}] [{tag}] [{scope}] {msg}")
}

pub fn log(level: Level, scope: &str, msg: &str) {
    if enabled(level) {
        write_line(&format_line(level, scope, msg));
    }
}

/// Not `eprintln!`, which panics when stderr is gone (a closed pipe to the
/// log driver): losing a log line must not stop the router.
#[cfg(not(test))]
fn write_line(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// In unit tests, `eprintln!`: the test harness captures only the print
/// macros, and a passing test's log lines are noise.
#[cfg(test)]
fn write_line(line: &str) {
    eprintln!("{line}");
}

pub fn error(scope: &str, msg: impl AsRef<str>) {
    log(Level::Error, scope, msg.as_ref());
}

pub fn warn(scope: &str, msg: impl AsRef<str>) {
    log(Level::Warn, scope, msg.as_ref());
}

pub fn info(scope: &str, msg: impl AsRef<str>) {
    log(Level::Info, scope, msg.as_ref());
}

pub fn debug(scope: &str, msg: impl AsRef<str>) {
    log(Level::Debug, scope, msg.as_ref());
}

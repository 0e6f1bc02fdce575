//! Gives every build of the crate an id (`FARGATE_LOCAL_BUILD_ID`), shared
//! by the `fargate-local` and `fargate-local-task` binaries built from the
//! same sources: the emulator puts the task binary into its tasks'
//! infrastructure image only if it comes from the same build (a binary
//! built alone by `cargo run` leaves an older sibling behind). Runs again
//! whenever a source file changes.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    println!(
        "cargo:rustc-env=FARGATE_LOCAL_BUILD_ID={nanos:x}-{:x}",
        std::process::id()
    );
}

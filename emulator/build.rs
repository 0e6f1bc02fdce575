//! Gives every build of the crate an id (`FARGATE_LOCAL_BUILD_ID`), shared
//! by the `fargate-local` and `fargate-local-task` binaries built from the
//! same sources: the emulator puts the task binary into its tasks'
//! infrastructure image only if it comes from the same sources (a binary
//! built alone by `cargo run` leaves an older sibling behind). The id is a
//! hash of the crate's sources, its manifest, the lock file and the build's
//! profile and target, so the same sources always build the same id (a
//! reproducible build), and any change gives a new one. Runs again whenever
//! one of them changes.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// Every file under `dir`, sorted, so that the hash does not depend on the
/// order the file system lists them in.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let mut paths = Vec::new();
    files(&root.join("src"), &mut paths);
    paths.push(root.join("Cargo.toml"));
    paths.push(root.join("../Cargo.lock"));
    paths.sort();
    // SipHash with fixed keys: the same input gives the same id with the
    // same toolchain.
    let mut h = DefaultHasher::new();
    for p in &paths {
        p.strip_prefix(&root).unwrap_or(p).hash(&mut h);
        std::fs::read(p).unwrap_or_default().hash(&mut h);
    }
    for var in ["PROFILE", "OPT_LEVEL", "DEBUG", "TARGET"] {
        std::env::var(var).unwrap_or_default().hash(&mut h);
    }
    println!("cargo:rustc-env=FARGATE_LOCAL_BUILD_ID={:016x}", h.finish());
}

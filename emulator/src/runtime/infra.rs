//! The task's infrastructure container: an image built on the spot from the
//! emulator's own binary (and the shared libraries it has loaded), so no
//! registry is ever needed. Its process, `fargate-local infra`, holds the
//! task's network namespace until it is told to stop, and carries the task
//! endpoint: `169.254.170.2:80` (metadata and credentials) and
//! `169.254.170.2:4566` (the emulator's API) are redirected by an nftables
//! rule of the namespace to two loopback ports, whose connections it pipes
//! to Unix sockets the emulator serves for this task alone (mounted at
//! [`SOCKET_DIR`]). The host's `nft` binary and its libraries are copied
//! into the image for that; without one the endpoint is not available.
//!
//! The image carries `fargate-local-task` (the task-side commands linked
//! alone, built beside the emulator) when it comes from the same build,
//! else the emulator's own binary; either way without its section headers,
//! symbols and debug information, which nothing in a task reads.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::RuntimeError;

pub const IMAGE_REPO: &str = "fargate-local-infra";

/// Where the task's sockets are mounted in the infrastructure container.
pub const SOCKET_DIR: &str = "/run/fargate-local";
/// The socket of the metadata and credentials endpoint, in the task's
/// socket directory.
pub const METADATA_SOCKET: &str = "metadata.sock";
/// The infrastructure container's resolver configuration, which every
/// container of the task mounts (`runtime::dns` points it at itself).
const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The socket of the emulator's API, in the task's socket directory.
pub const API_SOCKET: &str = "api.sock";
/// Written in the task's socket directory once the endpoint is set up:
/// `ok`, or why it is not available.
pub const READY_FILE: &str = "ready";
/// The address SDKs and the agent's clients use inside a task.
pub const ENDPOINT_IP: &str = "169.254.170.2";
/// The port of the emulator's API at [`ENDPOINT_IP`].
pub const ENDPOINT_API_PORT: u16 = 4566;
/// Loopback ports in the task's namespace the endpoint is redirected to:
/// the ECS agent's own credentials and introspection ports on EC2, so an
/// application is no more likely to collide with them than on AWS.
const METADATA_LOOPBACK_PORT: u16 = 51679;
const API_LOOPBACK_PORT: u16 = 51678;
/// In the emulator's image (`make image`): the shared libraries it carries,
/// one path a line, written by `docker/rootfs.sh`.
pub const IMAGE_LIBS: &str = "/usr/lib/fargate-local/libs";
/// Where the `nft` binary sits in the image.
const NFT_IN_IMAGE: &str = "/usr/sbin/nft";

/// The id of this build, shared by both binaries of one build (see
/// `build.rs`).
pub const BUILD_ID: &str = env!("FARGATE_LOCAL_BUILD_ID");
/// The task-side binary, looked for beside the emulator's own.
const TASK_BINARY: &str = "fargate-local-task";

/// The binary the image runs: the task binary beside this one if it says it
/// comes from this build (`fargate-local-task build-id`), else this one.
fn image_binary_source(exe: &Path) -> PathBuf {
    let task = exe.with_file_name(TASK_BINARY);
    if task.is_file() {
        let out = std::process::Command::new(&task)
            .arg("build-id")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output();
        match out {
            Ok(o)
                if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == BUILD_ID =>
            {
                return task;
            }
            _ => tracing::info!(
                task = %task.display(),
                "the task binary beside the emulator is of another build: the infrastructure image carries the emulator's own binary"
            ),
        }
    }
    // /proc/self/exe reads the running binary even if the file was replaced.
    PathBuf::from("/proc/self/exe")
}

/// A binary's bytes as the image carries them: up to the end of its last
/// segment, with no section header table (what `sstrip` leaves). The
/// loader reads only the program headers and the segments; the section
/// headers, symbols and debug information after them (most of a build with
/// line tables) are for debuggers. Anything but a well-formed 64-bit
/// little-endian ELF file is returned whole. (The image streams them:
/// [`stripped_reader`].)
#[cfg(test)]
fn stripped_binary(path: &Path) -> std::io::Result<Vec<u8>> {
    let (len, mut reader) = stripped_reader(path)?;
    let mut bin = Vec::with_capacity(len as usize);
    reader.read_to_end(&mut bin)?;
    Ok(bin)
}

/// [`stripped_binary`]'s bytes as a reader, and their length: the image's
/// build context streams them from the file instead of holding a copy.
fn stripped_reader(path: &Path) -> std::io::Result<(u64, Box<dyn Read + Send>)> {
    use std::io::{Seek, SeekFrom};
    use std::os::unix::fs::FileExt;
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let whole = |f: std::fs::File| -> std::io::Result<(u64, Box<dyn Read + Send>)> {
        Ok((len, Box::new(f.take(len))))
    };
    let mut head = [0u8; 64];
    if len < 64 || f.read_exact_at(&mut head, 0).is_err() {
        return whole(f);
    }
    // Magic, 64-bit, little-endian, version 1.
    if &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return whole(f);
    }
    let u16_at = |b: &[u8], o: usize| u64::from(u16::from_le_bytes([b[o], b[o + 1]]));
    let u64_at = |b: &[u8], o: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(v)
    };
    let (phoff, phentsize, phnum) = (
        u64_at(&head, 0x20),
        u16_at(&head, 0x36),
        u16_at(&head, 0x38),
    );
    let table_end = phoff.saturating_add(phentsize * phnum);
    if phentsize < 56 || phnum == 0 || table_end > len {
        return whole(f);
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    f.read_exact_at(&mut table, phoff)?;
    let mut end = table_end.max(64);
    for ph in table.chunks_exact(phentsize as usize) {
        end = end.max(u64_at(ph, 8).saturating_add(u64_at(ph, 32)));
    }
    if end > len {
        return whole(f);
    }
    // e_shoff, then e_shnum and e_shstrndx: no section header table.
    head[0x28..0x30].fill(0);
    head[0x3c..0x40].fill(0);
    f.seek(SeekFrom::Start(64))?;
    Ok((
        end,
        Box::new(std::io::Cursor::new(head).chain(f.take(end - 64))),
    ))
}

/// The host's `nft` binary, if there is one.
fn host_nft() -> Option<PathBuf> {
    ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// The shared objects a binary needs, as `ldd` resolves them.
fn ldd(bin: &Path) -> Vec<PathBuf> {
    let Ok(out) = std::process::Command::new("ldd").arg(bin).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=> ") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .filter(|p| p.exists())
        .collect()
}

/// The files an image needs to run this binary: the binary, its ELF
/// interpreter, and every shared object mapped into this process.
fn runtime_files() -> Result<(PathBuf, Vec<PathBuf>), RuntimeError> {
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| RuntimeError::Docker(format!("cannot find the emulator binary: {e}")))?;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut libs = BTreeSet::new();
    for line in maps.lines() {
        if let Some(path) = line.split_whitespace().nth(5)
            && path.starts_with('/')
            && path.contains(".so")
            && Path::new(path).exists()
        {
            libs.insert(PathBuf::from(path));
        }
    }
    if let Some(interp) = elf_interpreter(Path::new("/proc/self/exe")) {
        libs.insert(PathBuf::from(interp));
    }
    if let Some(nft) = host_nft() {
        libs.extend(ldd(&nft));
    }
    // In the emulator's own image there is no ldd: the image lists the
    // libraries it carries (nft's among them).
    if let Ok(list) = std::fs::read_to_string(IMAGE_LIBS) {
        libs.extend(
            list.lines()
                .map(PathBuf::from)
                .filter(|p| p.is_absolute() && p.exists()),
        );
    }
    Ok((exe, libs.into_iter().collect()))
}

/// The PT_INTERP path of a 64-bit ELF file, if it has one. Reads the
/// headers and the path only: the binary is tens of MiB, and this runs while
/// the emulator starts.
fn elf_interpreter(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).ok()?;
    let read = |offset: usize, len: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset as u64).ok()?;
        Some(buf)
    };
    let head = read(0, 64)?;
    if &head[..4] != b"\x7fELF" || head[4] != 2 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |b: &[u8], o: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        usize::try_from(u64::from_le_bytes(v)).unwrap_or(usize::MAX)
    };
    let phoff = u64_at(&head, 0x20);
    let phentsize = u16_at(&head, 0x36);
    let phnum = u16_at(&head, 0x38);
    if phentsize < 40 || phnum > 4096 {
        return None;
    }
    let table = read(phoff, phentsize * phnum)?;
    for ph in table.chunks_exact(phentsize) {
        if u32::from_le_bytes(ph[0..4].try_into().ok()?) == 3 {
            let off = u64_at(ph, 8);
            let size = u64_at(ph, 32);
            if size > 4096 {
                return None;
            }
            let raw = read(off, size)?;
            let s = std::str::from_utf8(&raw).ok()?.trim_end_matches('\0');
            return Some(s.to_string());
        }
    }
    None
}

/// A tag that changes whenever the binary the image carries does.
fn image_tag(bin: &Path) -> String {
    let meta = std::fs::metadata(bin);
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(bin.to_string_lossy().as_bytes());
    if let Some(nft) = host_nft() {
        h.update(nft.to_string_lossy().as_bytes());
        h.update(
            std::fs::metadata(&nft)
                .map(|m| m.len())
                .unwrap_or(0)
                .to_le_bytes(),
        );
    }
    if let Ok(m) = meta {
        h.update(m.len().to_le_bytes());
        if let Ok(t) = m.modified()
            && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
        {
            h.update(d.as_nanos().to_le_bytes());
        }
    }
    format!("{IMAGE_REPO}:{}", &hex::encode(h.finalize())[..16])
}

fn build_context(bin: &Path, libs: &[PathBuf]) -> Result<Vec<u8>, RuntimeError> {
    let io =
        |e: std::io::Error| RuntimeError::Docker(format!("building the infrastructure image: {e}"));
    let (bin_len, bin) = stripped_reader(bin).map_err(io)?;
    let nft = host_nft();
    // The archive's size, known beforehand: a buffer that grew by doubling
    // would hold up to twice the context, and both the old and the new one
    // while it moves; the binary is streamed from its file into it, not
    // copied first (the first start's memory peak, issue 19).
    let files: u64 = nft
        .iter()
        .chain(libs)
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let entries = 2 + libs.len() as u64 + u64::from(nft.is_some());
    // Each entry: a header, a long-name header and its name, padding.
    let estimate = bin_len + files + entries * 4096 + 1024;
    let mut tar = tar::Builder::new(Vec::with_capacity(estimate as usize));
    tar.follow_symlinks(true);
    let dockerfile = "FROM scratch\n\
        COPY rootfs/ /\n\
        LABEL fargate-local.managed=true\n\
        ENTRYPOINT [\"/fargate-local\"]\n\
        CMD [\"infra\"]\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .map_err(io)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(bin_len);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "rootfs/fargate-local", bin)
        .map_err(io)?;
    if let Some(nft) = nft {
        let rel = NFT_IN_IMAGE.trim_start_matches('/');
        tar.append_path_with_name(&nft, Path::new("rootfs").join(rel))
            .map_err(io)?;
    }
    for lib in libs {
        let rel = lib.strip_prefix("/").unwrap_or(lib);
        tar.append_path_with_name(lib, Path::new("rootfs").join(rel))
            .map_err(io)?;
    }
    tar.into_inner().map_err(io)
}

/// Builds the image unless this binary's image already exists; returns its
/// tag.
pub async fn ensure_image(docker: &Docker) -> Result<String, RuntimeError> {
    let join = |e: tokio::task::JoinError| RuntimeError::Docker(e.to_string());
    let (bin, libs, tag) = tokio::task::spawn_blocking(|| {
        let (exe, libs) = runtime_files()?;
        let bin = image_binary_source(&exe);
        let tag = image_tag(&bin);
        Ok::<_, RuntimeError>((bin, libs, tag))
    })
    .await
    .map_err(join)??;
    if docker.inspect_image(&tag).await.is_ok() {
        return Ok(tag);
    }
    tracing::info!(image = %tag, binary = %bin.display(), "building the task infrastructure image");
    let context = tokio::task::spawn_blocking(move || build_context(&bin, &libs))
        .await
        .map_err(join)??;
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| RuntimeError::Docker(format!("building {tag}: {e}")))?;
        if let Some(e) = info.error_detail.and_then(|d| d.message) {
            return Err(RuntimeError::Docker(format!("building {tag}: {e}")));
        }
    }
    Ok(tag)
}

/// How many infrastructure images of other builds are kept besides this
/// binary's own. Each is about the size of the binary (hundreds of MB for a
/// debug build) and every rebuilt binary makes a new one, so older ones are
/// removed; two are kept so that a debug and a release build used side by
/// side (`make test` while `make run` serves) do not remove, and then
/// rebuild, each other's image.
pub const OTHER_IMAGES_KEPT: usize = 2;

/// What a removal of infrastructure images did.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Tags removed.
    pub removed: Vec<String>,
    /// Tags Docker would not remove, with its reason (most often a
    /// container of another emulator still uses the image).
    pub refused: Vec<(String, String)>,
}

/// Removes infrastructure images of other builds of the emulator: all but
/// `current` and the `keep` most recently created others. An image a
/// container still uses is never forced out; it is reported in
/// [`Pruned::refused`].
pub async fn prune_images(
    docker: &Docker,
    current: Option<&str>,
    keep: usize,
) -> Result<Pruned, RuntimeError> {
    let mut filters = std::collections::HashMap::new();
    filters.insert("reference".to_string(), vec![IMAGE_REPO.to_string()]);
    filters.insert(
        "label".to_string(),
        vec![format!("{}=true", super::LABEL_MANAGED)],
    );
    let mut images = docker
        .list_images(Some(
            ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| RuntimeError::Docker(format!("listing {IMAGE_REPO} images: {e}")))?;
    images.sort_by_key(|i| std::cmp::Reverse(i.created));
    let prefix = format!("{IMAGE_REPO}:");
    let mut pruned = Pruned::default();
    let others = images
        .iter()
        .filter(|i| !i.repo_tags.iter().any(|t| Some(t.as_str()) == current));
    for image in others.skip(keep) {
        for tag in image.repo_tags.iter().filter(|t| t.starts_with(&prefix)) {
            let opts = RemoveImageOptionsBuilder::default().force(false).build();
            match docker.remove_image(tag, Some(opts), None).await {
                Ok(_) => pruned.removed.push(tag.clone()),
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(DockerError::DockerResponseServerError { message, .. }) => {
                    pruned.refused.push((tag.clone(), message))
                }
                Err(e) => pruned.refused.push((tag.clone(), e.to_string())),
            }
        }
    }
    Ok(pruned)
}

/// The nftables rules of a task's namespace: connections to the endpoint
/// address go to the loopback ports the proxy listens on. A listener on
/// `169.254.170.2:80` itself would make an application's `0.0.0.0:80`
/// listener fail with EADDRINUSE; a DNAT rule leaves port 80 to the task,
/// as the ECS agent's rule does on EC2. Port 53 of the task's nameserver
/// goes the same way to the DNS server's port (`runtime::dns`).
fn nat_rules() -> String {
    format!(
        "table ip fargate_local {{\n\
         \tchain output {{\n\
         \t\ttype nat hook output priority -100; policy accept;\n\
         \t\tip daddr {ENDPOINT_IP} tcp dport 80 dnat to 127.0.0.1:{METADATA_LOOPBACK_PORT}\n\
         \t\tip daddr {ENDPOINT_IP} tcp dport {ENDPOINT_API_PORT} dnat to 127.0.0.1:{API_LOOPBACK_PORT}\n\
         \t\tip daddr {dns} udp dport 53 dnat to {dns}:{dns_port}\n\
         \t\tip daddr {dns} tcp dport 53 dnat to {dns}:{dns_port}\n\
         \t}}\n\
         }}\n",
        dns = super::dns::NAMESERVER,
        dns_port = super::dns::LOOPBACK_PORT,
    )
}

async fn install_nat_rules() -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(NFT_IN_IMAGE)
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {NFT_IN_IMAGE}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(nat_rules().as_bytes())
            .await
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Pipes each connection accepted on a loopback port of the task to the
/// emulator's socket for this task.
async fn proxy(listener: tokio::net::TcpListener, socket: PathBuf) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: retrying at once would
            // spin on the same error.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            // The emulator may be restarting: the client sees the connection
            // close, as it would if the agent were briefly away.
            if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            }
        });
    }
}

/// The redirect and the proxy's listeners; the error says why the endpoint
/// is not available.
async fn set_up_endpoint(dir: &Path) -> Result<(), String> {
    install_nat_rules().await?;
    for (port, name) in [
        (METADATA_LOOPBACK_PORT, METADATA_SOCKET),
        (API_LOOPBACK_PORT, API_SOCKET),
    ] {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        tokio::spawn(proxy(listener, dir.join(name)));
    }
    Ok(())
}

/// Runs [`serve`] on a single-threaded runtime. The process only relays
/// bytes and answers small requests; one thread wakes once per event,
/// where a pool would hand each accepted connection to another worker
/// (a futex wake and a switch, on a host the task's own containers keep
/// busy), which is most of what a Service Connect hop costs.
pub fn run() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

/// The process of the infrastructure container: set up the task endpoint
/// (when the emulator gave the task its sockets) and say so in
/// [`READY_FILE`], then hold the namespace until SIGTERM or SIGINT.
pub async fn serve() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let dir = Path::new(SOCKET_DIR);
    if dir.is_dir() {
        // Service Connect's listeners are up before the task's containers
        // start (they wait for the ready file), as its Envoy is HEALTHY
        // before them on AWS.
        if std::env::var_os(super::service_connect::ENV).is_some() {
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(super::service_connect::run(dir.to_path_buf(), tx));
            let _ = rx.await;
        }
        let status = match set_up_endpoint(dir).await {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                eprintln!(
                    "fargate-local infra: the task endpoint {ENDPOINT_IP} is not available: {e}"
                );
                e
            }
        };
        // The task's DNS server needs the redirect of port 53; without it
        // the task keeps Docker's resolver alone.
        if status == "ok"
            && let Err(e) = super::dns::start(dir, Path::new(RESOLV_CONF)).await
        {
            eprintln!("fargate-local infra: Cloud Map names do not resolve in this task: {e}");
        }
        // Counting starts before the task's containers do.
        if std::env::var(super::egress::EGRESS_ENV).as_deref() == Ok("on")
            && let Err(e) = super::egress::start(dir).await
        {
            eprintln!("fargate-local infra: the egress counters are not available: {e}");
        }
        // Written whole, then renamed: the emulator never reads half of it.
        let tmp = dir.join(format!(".{READY_FILE}"));
        if std::fs::write(&tmp, status).is_ok() {
            let _ = std::fs::rename(&tmp, dir.join(READY_FILE));
        }
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stripped_binary_still_runs() {
        let exe = std::env::current_exe().unwrap();
        let bin = super::stripped_binary(&exe).unwrap();
        let full = std::fs::metadata(&exe).unwrap().len();
        // A test build has debug information and symbols after its segments.
        assert!((bin.len() as u64) < full, "{} of {full} bytes", bin.len());
        assert_eq!(
            &bin[0x28..0x30],
            &[0; 8],
            "the section header table is gone"
        );
        let dir = std::env::temp_dir().join(format!("fargate-local-strip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stripped");
        std::fs::write(&path, &bin).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new(&path)
            .args(["--list", "a_stripped_binary_still_runs"])
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.status.success(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("a_stripped_binary_still_runs"),
            "{out:?}"
        );
    }

    #[test]
    fn anything_but_an_elf_file_is_kept_whole() {
        let dir =
            std::env::temp_dir().join(format!("fargate-local-strip-txt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("script");
        std::fs::write(&path, b"#!/bin/sh\necho hello\n").unwrap();
        let bin = super::stripped_binary(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(bin, b"#!/bin/sh\necho hello\n");
    }

    #[test]
    fn finds_this_binarys_interpreter_and_libraries() {
        let (exe, libs) = super::runtime_files().unwrap();
        assert!(exe.exists());
        // A dynamically linked test binary has an interpreter and libc.
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux")),
            "{libs:?}"
        );
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
    }
}

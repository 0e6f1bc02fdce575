//! The emulator in a container: finding out that it runs in one, and what
//! that leaves it able to reach. The Docker engine runs tasks next to it,
//! not inside it, so three things must hold (the `docker run` line of
//! `serve --help` gives all three): the engine's socket is mounted, the run
//! directory is bind-mounted at the same path on both sides (the engine
//! bind-mounts task sockets and FireLens configs from it by their path
//! here), and the container is on the host's network (the emulator connects
//! to its tasks' addresses for health checks and load balancers, and front
//! doors listen on the host). Whether it runs in a container at all is
//! read from its mounts, not from marker files. What is checked is pure here; the inspection
//! of the emulator's own container is `docker::DockerRuntime::own_container`.

use std::path::{Path, PathBuf};

/// Whether this process runs in a container, from its mounts
/// (`/proc/self/mountinfo`, see [`engine_mounts`]).
pub fn in_container() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| engine_mounts(&m))
}

/// The mount points the container engine gives a container of its own
/// files (from `/var/lib/docker/containers/<id>/` for Docker; Podman,
/// containerd and Kubernetes do the same), which no host has as mount
/// points. The marker files (`/.dockerenv`, `/run/.containerenv`) do not
/// say it: a machine made from a container's file system keeps them (a VM
/// image built from a Docker export has `/.dockerenv`), and an emulator
/// there runs on its host.
const ENGINE_FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// A mountinfo line's root (the mounted path in its file system) and its
/// mount point: the fourth and fifth fields.
fn root_and_mount_point(line: &str) -> Option<(&str, &str)> {
    let mut fields = line.split(' ').skip(3);
    Some((fields.next()?, fields.next()?))
}

/// Whether `mountinfo` has the engine's `/etc/hostname` or `/etc/hosts`
/// mounted (`/etc/resolv.conf` alone is not enough: some hosts' network
/// tools bind-mount it).
pub fn engine_mounts(mountinfo: &str) -> bool {
    mountinfo.lines().any(|line| {
        root_and_mount_point(line)
            .is_some_and(|(_, at)| at == ENGINE_FILES[0] || at == ENGINE_FILES[1])
    })
}

/// The id of this process's container, from the files Docker bind-mounts
/// into it (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` come from
/// `/var/lib/docker/containers/<id>/`): the hostname is the host's on the
/// host's network, and under cgroup v2 `/proc/self/cgroup` is `0::/`, so
/// neither can say. Only those mounts are read: a volume whose path has a
/// `containers/<hex>` in it says nothing.
pub fn own_container_id(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let (root, at) = root_and_mount_point(line)?;
        if !ENGINE_FILES.contains(&at) {
            return None;
        }
        let at = root.find("/containers/")? + "/containers/".len();
        let id: String = root[at..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        (id.len() == 64).then_some(id)
    })
}

/// The emulator's own container, as the engine describes it.
#[derive(Debug, Clone, Default)]
pub struct OwnContainer {
    pub id: String,
    /// `host`, `bridge`, a network's name, ...
    pub network_mode: String,
    /// Bind mounts: (source on the host, destination in the container).
    pub binds: Vec<(PathBuf, PathBuf)>,
}

/// What the start-up log says about one requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    pub message: String,
}

/// Whether `run_dir` lies in a bind mount whose source is the same path.
fn mounted_at_same_path(binds: &[(PathBuf, PathBuf)], run_dir: &Path) -> Option<bool> {
    binds
        .iter()
        .filter(|(_, dest)| run_dir.starts_with(dest))
        .max_by_key(|(_, dest)| dest.components().count())
        .map(|(src, dest)| src == dest)
}

/// The requirements, checked against the emulator's own container.
pub fn check(own: &OwnContainer, run_dir: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    let short = &own.id[..own.id.len().min(12)];
    out.push(if own.network_mode == "host" {
        Finding {
            ok: true,
            message: format!(
                "container {short} is on the host's network: tasks' addresses are reachable (health checks, load balancers) and front doors listen on the host"
            ),
        }
    } else {
        Finding {
            ok: false,
            message: format!(
                "container {short} is on the network `{}`, not the host's: load balancer health checks and front doors cannot reach tasks, and only published ports are reachable from the host; run it with --network host",
                own.network_mode
            ),
        }
    });
    let dir = run_dir.display();
    out.push(match mounted_at_same_path(&own.binds, run_dir) {
        Some(true) => Finding {
            ok: true,
            message: format!(
                "the run directory {dir} is bind-mounted at the same path on the host: the task endpoint (169.254.170.2) and FireLens work"
            ),
        },
        Some(false) => Finding {
            ok: false,
            message: format!(
                "the run directory {dir} is mounted from another path on the host: tasks get no task endpoint (metadata, credentials) and FireLens routers fail; mount it at the same path (-v /tmp/fargate-local-instances:/tmp/fargate-local-instances) or point --run-dir (FARGATE_LOCAL_RUN_DIR) at such a mount"
            ),
        },
        None => Finding {
            ok: false,
            message: format!(
                "the run directory {dir} is not bind-mounted from the host: tasks get no task endpoint (metadata, credentials) and FireLens routers fail; add -v /tmp/fargate-local-instances:/tmp/fargate-local-instances or point --run-dir (FARGATE_LOCAL_RUN_DIR) at a directory mounted at the same path"
            ),
        },
    });
    out
}

/// What to do when the engine is not reachable from a container.
pub const NO_SOCKET_HINT: &str = "in a container the engine's socket must be mounted: -v /var/run/docker.sock:/var/run/docker.sock (or set DOCKER_HOST)";

/// Lets every user of the machine create lock files and run directories in
/// a directory the emulator (root in its image) just created on the host
/// through a bind mount: a later emulator on the host, run as a user,
/// shares it, as it shares `/tmp`. Left as it is when others can write it
/// already, or when it is not ours to change.
pub fn share_dir(dir: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    if meta.mode() & 0o002 == 0 {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_container_id_in_mountinfo() {
        let id = "a".repeat(60) + "0123";
        let info = format!(
            "1 0 0:1 / / rw - overlay overlay rw\n\
             2 1 254:0 /var/lib/docker/containers/{id}/hostname /etc/hostname rw - ext4 /dev/vda rw\n"
        );
        assert_eq!(own_container_id(&info), Some(id.clone()));
        assert!(engine_mounts(&info));
        assert_eq!(
            own_container_id("1 0 0:1 / / rw - overlay overlay rw\n"),
            None
        );
        // A short hex run after /containers/ is not an id.
        assert_eq!(
            own_container_id("2 1 0:2 /srv/containers/abc /etc/hosts rw - ext4 /dev/vda rw\n"),
            None
        );
        // A volume listed first, with a path like the engine's, says nothing.
        let other = "b".repeat(64);
        let volume =
            format!("2 1 254:0 /srv/containers/{other}/data /data rw - ext4 /dev/vda rw\n{info}");
        assert_eq!(own_container_id(&volume), Some(id));
    }

    #[test]
    fn a_host_with_a_stray_marker_is_not_a_container() {
        // This machine's mounts: a VM whose file system came from a Docker
        // export (it has /.dockerenv) but whose /etc files are its own.
        let host = [
            "22 27 0:21 / /proc rw,relatime - proc proc rw",
            "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw",
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
        ]
        .join("\n");
        assert!(!engine_mounts(&host));
        // A container on cgroup v2 with a private cgroup namespace: only
        // the engine's mounts tell.
        let container = [
            "106 58 0:50 / / rw - fuse.fuse-overlayfs fuse-overlayfs rw",
            "111 106 0:56 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw",
            "124 106 254:0 /var/lib/docker/containers/c0ffee/hostname /etc/hostname rw - ext4 /dev/vda rw",
        ]
        .join("\n");
        assert!(engine_mounts(&container));
        // resolv.conf alone: a host's network tool may bind-mount it.
        assert!(!engine_mounts(
            "30 27 0:40 /run/resolv.conf /etc/resolv.conf rw - tmpfs tmpfs rw\n"
        ));
    }

    fn check_of(network: &str, binds: &[(&str, &str)]) -> Vec<bool> {
        let own = OwnContainer {
            id: "f".repeat(64),
            network_mode: network.into(),
            binds: binds
                .iter()
                .map(|(s, d)| (PathBuf::from(s), PathBuf::from(d)))
                .collect(),
        };
        check(&own, Path::new("/tmp/fargate-local-instances/abc.run"))
            .into_iter()
            .map(|f| f.ok)
            .collect()
    }

    #[test]
    fn judges_network_and_run_directory() {
        let same = (
            "/tmp/fargate-local-instances",
            "/tmp/fargate-local-instances",
        );
        assert_eq!(check_of("host", &[same]), [true, true]);
        assert_eq!(check_of("bridge", &[same]), [false, true]);
        assert_eq!(check_of("host", &[]), [true, false]);
        assert_eq!(
            check_of("host", &[("/srv/x", "/tmp/fargate-local-instances")]),
            [true, false]
        );
        // The deepest mount decides: /tmp from the host's /tmp, then the
        // instances directory from elsewhere.
        assert_eq!(
            check_of(
                "host",
                &[("/tmp", "/tmp"), ("/srv/x", "/tmp/fargate-local-instances")]
            ),
            [true, false]
        );
        assert_eq!(check_of("host", &[("/tmp", "/tmp")]), [true, true]);
    }
}

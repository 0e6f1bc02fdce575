"""A testcontainers module for fargate-local: the emulator's image (``make
image`` builds ``fargate-local:dev``) run with the one ``docker run`` line of
``fargate-local serve --help``, waited for until healthy with Docker
connected; its endpoint URL, region and ``reset()``. See README.md."""

from __future__ import annotations

import http.client
import json
import time
from typing import Iterable, Optional

from testcontainers.core.container import DockerContainer

IMAGE = "fargate-local"
TAG = "dev"
#: Where in-memory instances keep their lock files and run directories: at
#: the same path on the host and in the container.
INSTANCES_DIR = "/tmp/fargate-local-instances"
DOCKER_SOCKET = "/var/run/docker.sock"
SERVING = "fargate-local is serving"


def _log_line(log: str, message: str) -> Optional[dict]:
    """The last JSON log line whose message is ``message``."""
    for line in reversed(log.splitlines()):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict) and v.get("fields", {}).get("message") == message:
            return v["fields"]
    return None


class FargateLocalContainer(DockerContainer):
    """The emulator in a container on the host's network."""

    def __init__(
        self,
        tag: str = TAG,
        in_memory: bool = True,
        account_id: Optional[str] = None,
        region: str = "us-east-1",
        serve_args: Iterable[str] = (),
        **kwargs,
    ) -> None:
        super().__init__(f"{IMAGE}:{tag}", **kwargs)
        self.region = region
        self.account_id = account_id or "000000000000"
        cmd = [
            "serve",
            # Ports the kernel picks, read back from the log.
            "--listen", "127.0.0.1:0",
            "--s3-listen", "127.0.0.1:0",
            "--region", region,
        ]
        cmd += ["--in-memory"] if in_memory else ["--data-dir", "/data"]
        if account_id:
            cmd += ["--account-id", account_id]
        cmd += list(serve_args)
        self.with_command(cmd)
        self.with_env("FARGATE_LOCAL_LOG_FORMAT", "json")
        self.with_env("NO_COLOR", "1")
        self.with_volume_mapping(DOCKER_SOCKET, DOCKER_SOCKET, "rw")
        self.with_volume_mapping(INSTANCES_DIR, INSTANCES_DIR, "rw")
        self.with_kwargs(network_mode="host")
        self.endpoint_url: str = ""
        self.s3_endpoint_url: Optional[str] = None
        self.instance_id: str = ""
        self._addr = ""

    def logs(self) -> str:
        out, err = self.get_logs()
        return (out + err).decode(errors="replace")

    def start(self, timeout: float = 60.0) -> "FargateLocalContainer":
        super().start()
        deadline = time.monotonic() + timeout
        serving = None
        while serving is None:
            serving = _log_line(self.logs(), SERVING)
            if serving is None:
                self._fail_if_exited()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"fargate-local did not serve within {timeout} s:\n{self.logs()}")
                time.sleep(0.02)
        self._addr = serving["listen"]
        self.endpoint_url = f"http://{self._addr}"
        self.instance_id = serving.get("instance", "")
        s3 = _log_line(self.logs(), "S3 is serving")
        self.s3_endpoint_url = f"http://{s3['listen']}" if s3 else None
        last = ""
        while True:
            try:
                status, body = self._http("GET", "/_fargate-local/health")
                if status == 200 and json.loads(body).get("docker") == "connected":
                    return self
                last = f"{status} {body}"
            except OSError as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"fargate-local was not healthy with Docker connected within {timeout} s "
                    f"(last answer: {last}):\n{self.logs()}"
                )
            time.sleep(0.025)

    def _fail_if_exited(self) -> None:
        c = self.get_wrapped_container()
        c.reload()
        if c.status == "exited":
            raise RuntimeError(f"fargate-local exited before it served:\n{self.logs()}")

    def _http(self, method: str, path: str):
        host, port = self._addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    def reset(self) -> None:
        """POST /_fargate-local/reset: every task's containers removed and
        every service's state cleared."""
        status, body = self._http("POST", "/_fargate-local/reset")
        if status != 200:
            raise RuntimeError(f"reset answered {status}: {body}")

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """A graceful stop first (an in-memory emulator removes its tasks),
        then the container's removal."""
        c = self._container
        if c is not None:
            try:
                c.stop(timeout=30)
            except Exception:  # noqa: BLE001 - removal below still runs
                pass
        super().stop(force=force, delete_volume=delete_volume)


__all__ = ["FargateLocalContainer", "IMAGE", "TAG", "INSTANCES_DIR"]

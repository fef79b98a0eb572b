"""A 3-node (or N-node) OpenBao raft HA cluster on loopback, for scripts/soak.py (section d).

Built on devstack.RaftBao: node 1 is initialised (one unseal key) and unsealed; the other
nodes have ``retry_join`` blocks pointing at every peer's API address and join when they
are unsealed with node 1's key. Each node has its own work dir, plugin_directory, raft
data dir, API port and cluster port; all on 127.0.0.1. Processes are stopped by pid
(devstack's ManagedProcess), never by name.
"""

from __future__ import annotations

import time
from typing import Optional

import devstack


class Node(devstack.RaftBao):
    kind = "hanode"

    def __init__(self, node_id: str, **kwargs):
        super().__init__(**kwargs)
        self.node_id = node_id
        self.peers: list["Node"] = []

    def config_text(self) -> str:
        joins = "".join(
            f'  retry_join {{\n    leader_api_addr = "{p.addr}"\n  }}\n' for p in self.peers if p is not self)
        return (
            self._common_config()
            + f'api_addr = "{self.addr}"\n'
            f'cluster_addr = "https://127.0.0.1:{self.cluster_port}"\n'
            f'disable_mlock = true\n'
            f'storage "raft" {{\n  path = "{self.data_dir}"\n  node_id = "{self.node_id}"\n'
            f'  performance_multiplier = 1\n{joins}}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n'
            f'  cluster_address = "127.0.0.1:{self.cluster_port}"\n  tls_disable = true\n}}\n'
            + self.extra_config
        )

    def start_joining(self, key: str, token: str, timeout: float = 90.0) -> "Node":
        """Start a node that joins the existing cluster: unseal with the cluster's key."""
        self.token, self.unseal_key = token, key
        self.spawn()
        self._wait_until(lambda: self.health()[0] in (200, 429, 472, 473, 501, 503), timeout, "answering HTTP")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.health()
            if status in (200, 429, 472, 473):
                return self
            if body.get("sealed", True):
                # answers the leader's bootstrap challenge once retry_join got it
                self.cli("operator", "unseal", key, timeout=20)
            time.sleep(0.5)
        raise devstack.StackError(f"{self!r} did not join (health {self.health()}); log {self.log_path}:\n"
                                  f"{self.log_tail()}")

    def is_active(self) -> bool:
        try:
            return self.running() and self.health()[0] == 200
        except OSError:
            return False


class Cluster:
    def __init__(self, n: int = 3, extra_config: str = "", log_level: str = "debug"):
        self.nodes = [Node(f"node{i + 1}", extra_config=extra_config, log_level=log_level) for i in range(n)]
        for node in self.nodes:
            node.port = devstack.free_port()
            node.cluster_port = devstack.free_port()
        for node in self.nodes:
            node.peers = self.nodes

    @property
    def token(self) -> str:
        return self.nodes[0].token

    def start(self, timeout: float = 90.0) -> "Cluster":
        first = self.nodes[0]
        first.start(timeout)
        for node in self.nodes[1:]:
            node.start_joining(first.unseal_key, first.token, timeout)
        self.wait_peers(len(self.nodes), timeout)
        return self

    def wait_peers(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.active()
            if leader is not None:
                res = leader.cli("operator", "raft", "list-peers", "-format=json", timeout=20)
                if res.returncode == 0:
                    import json
                    servers = json.loads(res.stdout)["data"]["config"]["servers"]
                    if len(servers) >= n and all(s.get("voter") for s in servers):
                        return
            time.sleep(0.5)
        raise devstack.StackError(f"raft cluster never reached {n} voters")

    def active(self) -> Optional[Node]:
        for node in self.nodes:
            if node.is_active():
                return node
        return None

    def wait_active(self, exclude: Optional[Node] = None, timeout: float = 60.0) -> Node:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node is not exclude and node.is_active():
                    return node
            time.sleep(0.2)
        raise devstack.StackError("no active node")

    def close(self) -> None:
        for node in self.nodes:
            try:
                node.close()
            except Exception:
                pass

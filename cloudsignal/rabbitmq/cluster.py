"""A RabbitMQ cluster of our own on loopback: `make cluster`, the cluster tests and the bench start it.

Each node runs Debian's rabbitmq-server as this user, with its own config, cookie, data dir (all in one
temporary directory) and free ports, so it never touches the system's RabbitMQ service. The nodes
boot in parallel as standalone nodes, then every node after the first joins the first one. Devices
log in through rabbitmq_auth_backend_http, which asks CloudSignal's auth endpoints (`auth_url`).

No Django here: the runner only needs the auth URL and the management credentials it is given.
"""

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cloudsignal.rabbitmq.management import Management, Unreachable

# Debian's package puts the real scripts here; /usr/sbin's wrappers switch to the rabbitmq user.
DEBIAN_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
PLUGINS = ("rabbitmq_mqtt", "rabbitmq_management", "rabbitmq_auth_backend_http")
# A hung auth backend must not hang logins for RabbitMQ's default 15 s.
AUTH_HTTP_TIMEOUT_MS = 2500
BOOT_TIMEOUT_SECONDS = 120.0


class ClusterError(RuntimeError):
    pass


def rabbitmq_script(name: str) -> str | None:
    """The path of rabbitmq-server or rabbitmqctl, or None where RabbitMQ is not installed."""
    debian = DEBIAN_SCRIPTS / name
    if debian.exists():
        return str(debian)
    return shutil.which(name)


def install_rabbitmq() -> bool:
    """Install Debian's rabbitmq-server package where it is missing (as root, with apt-get), without
    starting its system service. Returns whether rabbitmq-server is there afterwards."""
    if rabbitmq_script("rabbitmq-server"):
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "rabbitmq-server"]):
        if subprocess.run(command, env=env, check=False).returncode != 0:
            return False
    return rabbitmq_script("rabbitmq-server") is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Node:
    name: str  # the Erlang node name, such as cs-1a2b-a@localhost
    directory: Path
    mqtt_port: int = field(default_factory=free_port)
    management_port: int = field(default_factory=free_port)
    amqp_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    """Nodes started by start() and stopped, every one, by stop() (also on a failed start)."""

    auth_url: str  # CloudSignal's auth endpoints, ending in "/" (user, vhost, resource, topic follow)
    admin_user: str = "cloudsignal"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    size: int = 2
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cloudsignal-rabbitmq-")))
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        token = secrets.token_hex(3)
        letters = "abcdefghij"[: self.size]
        self.nodes = [Node(f"cs-{token}-{x}@localhost", self.directory / x) for x in letters]
        self._cookie = secrets.token_hex(20)

    @property
    def management_urls(self) -> list[str]:
        return [n.management_url for n in self.nodes]

    def start(self, timeout: float = BOOT_TIMEOUT_SECONDS) -> None:
        server = rabbitmq_script("rabbitmq-server")
        if server is None:
            raise ClusterError("rabbitmq-server is not installed (apt-get install rabbitmq-server).")
        (self.directory / ".erlang.cookie").write_text(self._cookie)
        (self.directory / ".erlang.cookie").chmod(0o400)
        try:
            for node in self.nodes:
                self._write_config(node)
                log = (node.directory / "server.log").open("wb")
                node.process = subprocess.Popen(
                    [server],
                    env=self._env(node),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + timeout
            for node in self.nodes:
                self._await_node(node, deadline)
            for node in self.nodes[1:]:
                self._join(node, self.nodes[0])
            for node in self.nodes:
                self._await_node(node, deadline, members=len(self.nodes))
        except BaseException:
            self.stop()
            raise

    def stop_node(self, node: Node, timeout: float = 30.0) -> None:
        """Stop one node (SIGTERM to its process group, then SIGKILL)."""
        if node.process is None:
            return
        if node.process.poll() is None:
            try:
                os.killpg(node.process.pid, signal.SIGTERM)
                node.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait()
            except ProcessLookupError:
                pass
        # Erlang helpers (epmd is shared and stays; inet_gethost and friends) go with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(node.process.pid, signal.SIGKILL)

    def stop(self, *, graceful: bool = True) -> None:
        """Stop every node and delete the directory. Not graceful: SIGKILL at once (a throwaway
        cluster whose data goes with it; saves the seconds RabbitMQ takes to shut down)."""
        for node in self.nodes:
            if node.running:
                os.killpg(node.process.pid, signal.SIGTERM if graceful else signal.SIGKILL)  # type: ignore[union-attr]
        for node in self.nodes:
            self.stop_node(node)
        shutil.rmtree(self.directory, ignore_errors=True)

    def ctl(self, node: Node, *args: str) -> str:
        ctl = rabbitmq_script("rabbitmqctl")
        if ctl is None:
            raise ClusterError("rabbitmqctl is not installed.")
        done = subprocess.run(
            [ctl, "-n", node.name, *args], env=self._env(node), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ClusterError(f"rabbitmqctl {' '.join(args)} on {node.name}: {done.stderr or done.stdout}")
        return done.stdout

    def _join(self, node: Node, seed: Node) -> None:
        self.ctl(node, "stop_app")
        self.ctl(node, "join_cluster", seed.name)
        self.ctl(node, "start_app")

    def _await_node(self, node: Node, deadline: float, members: int = 1) -> None:
        while time.monotonic() < deadline:
            if not node.running:
                log = (node.directory / "server.log").read_text(errors="replace")[-3000:]
                raise ClusterError(f"RabbitMQ node {node.name} exited while starting:\n{log}")
            try:
                _, found = self.management([node]).call("GET", "/api/nodes?columns=name,running")
            except Unreachable:
                found = None
            if isinstance(found, list) and sum(1 for n in found if n.get("running")) >= members:
                return
            time.sleep(0.25)
        raise ClusterError(f"RabbitMQ node {node.name} did not start within the time allowed.")

    def management(self, nodes: Sequence[Node] | None = None) -> Management:
        """The management API of these nodes (all by default), as the admin."""
        urls = [n.management_url for n in nodes or self.nodes]
        return Management(urls, self.admin_user, self.admin_password)

    def _env(self, node: Node) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            # The cookie is read from $HOME, shared by the nodes and rabbitmqctl.
            "HOME": str(self.directory),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_CONFIG_FILE": str(node.directory / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.directory / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(node.directory / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(node.directory / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(node.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node.directory / "log"),
            "RABBITMQ_PID_FILE": str(node.directory / "rabbitmq.pid"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_SERVER_ERL_ARGS": "+P 1048576 -kernel inet_dist_use_interface {127,0,0,1}",
        }

    def _write_config(self, node: Node) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        (node.directory / "rabbitmq-env.conf").write_text("")
        (node.directory / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")
        (node.directory / "rabbitmq.conf").write_text(
            rabbitmq_conf(
                node,
                auth_url=self.auth_url,
                admin_user=self.admin_user,
                admin_password=self.admin_password,
            )
        )


def rabbitmq_conf(node: Node, *, auth_url: str, admin_user: str, admin_password: str) -> str:
    """One node's rabbitmq.conf (also the template the docker-compose profile follows)."""
    lines = [
        f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}",
        f"mqtt.listeners.tcp.default = 127.0.0.1:{node.mqtt_port}",
        "mqtt.allow_anonymous = false",
        "management.tcp.ip = 127.0.0.1",
        f"management.tcp.port = {node.management_port}",
        # The Sessions page reads connections from the statistics; refresh them every second.
        "collect_statistics_interval = 1000",
        # The admin (management API) is an internal user; every device goes to CloudSignal.
        "auth_backends.1 = internal",
        "auth_backends.2 = http",
        f"default_user = {admin_user}",
        f"default_pass = {admin_password}",
        "default_user_tags.administrator = true",
        "auth_http.http_method = post",
        f"auth_http.user_path = {auth_url}user",
        f"auth_http.vhost_path = {auth_url}vhost",
        f"auth_http.resource_path = {auth_url}resource",
        f"auth_http.topic_path = {auth_url}topic",
        f"auth_http.connection_timeout = {AUTH_HTTP_TIMEOUT_MS}",
        f"auth_http.request_timeout = {AUTH_HTTP_TIMEOUT_MS}",
        "log.console = true",
        "log.console.level = warning",
        "log.file = false",
    ]
    return "\n".join(lines) + "\n"


def mqtt_addresses(nodes: Sequence[Node]) -> str:
    return " ".join(f"127.0.0.1:{n.mqtt_port}" for n in nodes)

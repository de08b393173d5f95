"""Local Apache Kafka (KRaft) and Neo4j 5 as plain processes: no Docker needed.

Jars come from Maven Central (through `mvn`, so ~/.m2 caches them); data, logs and pid files live
under one directory (`TIEGRAPH_HOME`, default `.tiegraph/`). Everything binds to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tiegraph.errors import ServiceError
from tiegraph.settings import Settings

_KAFKA_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions={partitions}
# topics are created by tiegraph with explicit partition counts; never by a stray producer
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=-1
"""

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
"""


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    log: Path


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding. Never one that starts with
    '-': the storage tool would read `format -t -abc...` as an option and refuse to format."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def port_open(host: str, port: int) -> bool:
    """Whether something accepts connections on `host`:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _alive(pid: int) -> bool:
    """Running, and not a zombie (a stopped child of this process is reaped here)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: its own parent reaps it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


class LocalServices:
    """Install, start, stop and report the local Kafka and Neo4j."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home.resolve()
        self.lib = (settings.lib_dir or settings.home / "lib").resolve()

    # -- layout --------------------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.home / "run" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def _pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    # -- install -------------------------------------------------------------------------------

    def install(self) -> None:
        """Resolve the Kafka and Neo4j runtime jars from Maven Central (once; cached in ~/.m2)."""
        for name in ("kafka", "neo4j"):
            target = self.lib / name
            marker = target / ".complete"
            if marker.exists():
                continue
            if shutil.which("mvn") is None:
                raise ServiceError("Maven (mvn) is needed to fetch the Kafka and Neo4j jars: apt-get install maven")
            pom = resources.files("tiegraph.services") / "maven" / f"{name}.pom.xml"
            with resources.as_file(pom) as pom_path:
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                result = subprocess.run(
                    [
                        "mvn",
                        "-q",
                        "-B",
                        "-f",
                        str(pom_path),
                        "dependency:copy-dependencies",
                        "-DincludeScope=runtime",
                        f"-DoutputDirectory={target}",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
            if result.returncode != 0:
                raise ServiceError(
                    f"resolving {name} jars with Maven failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
                )
            marker.touch()

    # -- start / stop --------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], cwd: Path) -> int:
        log = self.log_file(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        self._pid_file(name).parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._pid_file(name).write_text(str(process.pid))
        return process.pid

    def _wait(self, name: str, pid: int, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                raise ServiceError(f"{name} exited during start-up; read {self.log_file(name)}")
            if port_open("127.0.0.1", port):
                return
            time.sleep(0.25)
        raise ServiceError(
            f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f}s; read {self.log_file(name)}"
        )

    def start_kafka(self, timeout: float = 90.0) -> None:
        if self._pid("kafka"):
            return
        s = self.settings
        if port_open("127.0.0.1", s.kafka_port):
            raise ServiceError(f"port {s.kafka_port} is taken by another process; set TIEGRAPH_KAFKA_BOOTSTRAP")
        base = self.home / "kafka"
        data = base / "data"
        base.mkdir(parents=True, exist_ok=True)
        config = base / "server.properties"
        config.write_text(
            _KAFKA_PROPERTIES.format(
                port=s.kafka_port, controller=s.kafka_controller_port, data=data, partitions=s.topic_partitions
            )
        )
        (base / "log4j2.properties").write_text(_LOG4J2)
        java = ["java", f"-Dlog4j2.configurationFile={base / 'log4j2.properties'}", "-cp", f"{self.lib / 'kafka'}/*"]
        if not (data / "meta.properties").exists():
            subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(config)],
                check=True,
                capture_output=True,
            )
        pid = self._spawn(
            "kafka", [java[0], f"-Xmx{s.kafka_heap_mb}m", "-Xms128m", *java[1:], "kafka.Kafka", str(config)], base
        )
        self._wait("kafka", pid, s.kafka_port, timeout)
        asyncio.run(self._kafka_ready(timeout))

    async def _kafka_ready(self, timeout: float) -> None:
        """The port opens before the broker answers metadata requests: wait for a real answer."""
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        while True:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=5000)
            try:
                await admin.start()
                await admin.list_topics()
                return
            except KafkaError as exc:
                if time.monotonic() > deadline:
                    raise ServiceError(f"Kafka is not answering: {exc}; read {self.log_file('kafka')}") from exc
                await asyncio.sleep(0.5)
            finally:
                await admin.close()

    def start_neo4j(self, timeout: float = 180.0) -> None:
        if self._pid("neo4j"):
            return
        s = self.settings
        host, _, port = s.neo4j_address.partition(":")
        if port_open("127.0.0.1", int(port)):
            raise ServiceError(f"port {port} is taken by another process; set TIEGRAPH_NEO4J_URI")
        base = self.home / "neo4j"
        base.mkdir(parents=True, exist_ok=True)
        source = resources.files("tiegraph.services") / "java" / "Neo4jServer.java"
        server = base / "Neo4jServer.java"
        server.write_text(source.read_text())
        argv = [
            "java",
            f"-Xmx{s.neo4j_heap_mb}m",
            "-XX:+UseG1GC",
            "-cp",
            f"{self.lib / 'neo4j'}/*",
            str(server),
            str(base),
            f"{host}:{port}",
            str(s.neo4j_pagecache_mb),
            str(max(256, s.neo4j_heap_mb // 2)),
        ]
        pid = self._spawn("neo4j", argv, base)
        self._wait("neo4j", pid, int(port), timeout)

    def up(self) -> None:
        self.install()
        self.start_kafka()
        self.start_neo4j()

    def stop(self, name: str, timeout: float = 30.0) -> bool:
        """Stop one service by its pid (TERM, then KILL after `timeout`); False if not running."""
        pid = self._pid(name)
        if pid is None:
            self._pid_file(name).unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self._pid_file(name).unlink(missing_ok=True)
        return True

    def send_signal(self, name: str, signum: signal.Signals) -> bool:
        """Send `signum` to a running service's process group (fault injection: SIGKILL a broker,
        SIGSTOP/SIGCONT a slow database); False if it is not running. A killed service's pid file
        stays until `start_*` or `stop` finds it dead."""
        pid = self._pid(name)
        if pid is None:
            return False
        os.killpg(pid, signum)
        if signum == signal.SIGKILL:
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        return True

    def down(self) -> list[str]:
        """Stop everything this home started (worker and API first, then the engines)."""
        return [name for name in ("api", "worker", "kafka", "neo4j") if self.stop(name)]

    def status(self) -> list[ServiceStatus]:
        s = self.settings
        addresses = {
            "kafka": s.kafka_bootstrap,
            "neo4j": s.neo4j_address,
            "worker": f"127.0.0.1:{s.worker_web_port}",
            "api": f"{s.api_host}:{s.api_port}",
        }
        return [
            ServiceStatus(n, self._pid(n) is not None, self._pid(n), addresses[n], self.log_file(n)) for n in addresses
        ]

    def spawn_process(self, name: str, argv: list[str]) -> int:
        """Start a tiegraph process (worker, API) in the background, tracked like the engines."""
        if (pid := self._pid(name)) is not None:
            return pid
        return self._spawn(name, argv, Path.cwd())

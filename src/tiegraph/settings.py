"""The one settings root, read from TIEGRAPH_* environment variables (and an optional .env).

Built once in each entry point (CLI command, worker, API) and passed down as plain values.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIEGRAPH_", env_file=".env", extra="ignore")

    environment: str = "development"  # "production" refuses development defaults
    home: Path = Path(".tiegraph")  # local services' data, logs and pid files
    lib_dir: Path | None = None  # the Kafka and Neo4j jars; default HOME/lib

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    kafka_heap_mb: int = 512
    topic_partitions: int = 4  # fixed at topic creation: the most workers that can share a stage
    topic_replication: int = 1  # 3 on a real Kafka cluster
    topic_prefix: str = ""  # lets several deployments (or tests) share one cluster

    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr = SecretStr("")
    neo4j_heap_mb: int = 1024
    neo4j_pagecache_mb: int = 512

    app_id: str = "tiegraph"  # the Faust app id, which is also the Kafka consumer group
    worker_web_port: int = 6066
    store: str = "memory://"  # Faust table store; rocksdb:// keeps large tables on disk
    # What the RocksDB store may hold in memory (block caches and write buffers), over all of a
    # worker's tables and partitions (streams/app.py `rocksdb_options`).
    rocksdb_memory_mb: int = 256
    commit_interval_s: float = 1.0
    # A batch waits at most `*_batch_seconds` after its first record for more (under a backlog it
    # fills at once): the windows add up along the stages, and at a live 1,000 msgs/s windows of
    # 0.2 s (graph) and 0.05 s (stages) held freshness p50 at ~530 ms against ~280-340 ms.
    # Under a backlog the writer's batch coalesces a tie's successive updates (the latest wins):
    # 10,000 wrote ~8 % fewer rows than 2,000 and took 2,627-2,654 msgs/s against 2,422-2,571
    # (bench/profile_worker.py, interleaved, 2026-11-24 15:10); live, batches stay small. A full
    # batch is held at once: ~90 MB more peak worker RSS under the bench's 300,000-tie backlog.
    graph_batch_size: int = 10_000
    graph_batch_seconds: float = 0.1
    # derive/meet/aggregate take up to this many records per batch; a batch's outputs are in Kafka
    # before its offsets can be committed (streams/delivery.py). Each batch pays two waits for
    # Kafka and writes each tie it touches once: 2,000 took a third less worker CPU per message
    # than 1,000 under a backlog (bench/profile_worker.py, 2026-11-24); 5,000 no less than 2,000.
    stream_batch_size: int = 2000
    stream_batch_seconds: float = 0.02
    # A tie keeps the ids of the interactions it counted inside its state record up to this many;
    # beyond, per period of time in table `tie_applied` beside it, so a busy pair's record stays
    # small (ids inside grow ~30 bytes each, toward Kafka's 1 MiB record limit).
    tie_inline_ids: int = 512
    # Decoded ties the aggregate keeps in memory (most recently used; ~2.4 KB each): the others are
    # read back from the table when their pair is next seen. 50,000 against 100,000 at the bench's
    # 1M ties: peak worker RSS 870 MB against 994, and no slower (412 against 378 msgs/s;
    # bench/profile_worker.py --scale-ties, 2026-11-24 20:52 and 20:58); the bench's throughput
    # corpus (11,500 ties) fits in either.
    tie_cache_size: int = 50_000
    # A SIGKILLed worker's partitions wait this long before the group gives them to others.
    kafka_session_timeout_s: float = 30.0
    stall_seconds: float = 90.0  # a partition with lag and no commit for this long restarts the worker
    # A graph write attempt still unanswered after this long is abandoned and retried (writes are
    # idempotent), each timeout doubling the next, up to 8x (streams/backpressure.py).
    graph_write_timeout_s: float = 120.0
    # Ingest waits this long for Kafka to acknowledge what it produced (a broker restart is ridden
    # out); longer, and the import or sync fails and can simply be run again (ingest/producer.py).
    produce_timeout_s: float = 120.0

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # operations (README "Operations")
    worker_metrics_port: int = 9464  # the worker's Prometheus /metrics; 0 = not served
    worker_metrics_host: str = "127.0.0.1"  # 0.0.0.0 where Prometheus scrapes from another host
    heartbeat_max_age_s: float = 30.0  # /readyz fails when the graph writers' or stream stages' newest beat is older
    write_stuck_s: float = 30.0  # /readyz fails while a worker's graph write has waited this long
    ready_check_timeout_s: float = 5.0  # each /readyz check answers within this, or counts as failed
    ops_token: SecretStr = SecretStr("")  # the ops page's operator token; empty = open (development only)
    ops_sample_seconds: float = 10.0  # lag/freshness history sampling for the ops page (kept: 1 hour)
    # Mailbox credentials are encrypted at rest with this Fernet key (`tiegraph.ingest.secrets`);
    # development generates one under HOME, production refuses to start without it.
    secret_key: SecretStr = SecretStr("")
    sync_poll_seconds: float = 30.0  # how long a following sync waits for IDLE/push before looking again
    sync_lease_seconds: float = 120.0  # a runner that stops renewing loses its mailboxes after this

    @model_validator(mode="after")
    def _refuse_development_defaults(self) -> Settings:
        if self.environment != "production":
            return self
        secrets = {
            "TIEGRAPH_NEO4J_PASSWORD": self.neo4j_password,
            "TIEGRAPH_OPS_TOKEN": self.ops_token,
            "TIEGRAPH_SECRET_KEY": self.secret_key,
        }
        missing = [name for name, value in secrets.items() if not value.get_secret_value()]
        if missing:  # all of them at once: one failed start per missing secret would be tedious
            raise ValueError(f"{', '.join(missing)} must be set when TIEGRAPH_ENVIRONMENT=production")
        return self

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.rpartition(":")[2])

    @property
    def neo4j_address(self) -> str:
        return self.neo4j_uri.split("://", 1)[1]

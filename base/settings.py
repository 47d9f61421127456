"""Typed settings, read once from `CREDIT_*` environment variables and passed down.

Nothing else in the code base reads the environment: a process builds one `Settings` at its
entry point (the CLI) and hands it to whatever it starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from base.dirty import DirtyThreshold
from schemas.codec import DEFAULT_BATCH_RECORDS


class Settings(BaseSettings):
    """Every knob of the platform; field `foo` is read from `CREDIT_FOO`."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_", extra="ignore")

    data_dir: Path = Field(Path(".credit"), description="embedded runtime state and chDB store")
    api_url: str | None = Field(None, description="URL of a running platform's HTTP API")
    api_host: str = "127.0.0.1"
    api_port: int = Field(0, description="0 picks a free port")

    kafka_bootstrap: str | None = Field(None, description="real Kafka; unset = embedded Tansu")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: Path | None = Field(
        None, description="CA bundle (PEM) for SSL / SASL_SSL; unset = the system's CAs"
    )
    schema_registry_url: str | None = Field(None, description="unset = the embedded registry")
    clickhouse_url: str | None = Field(None, description="http(s)://user:pass@host:8123/db")
    clickhouse_database: str = "credit"

    topic_partitions: int = Field(
        1, ge=1, description="partitions per class topic (= most workers that share the load)"
    )
    topic_replication_factor: int = Field(1, ge=1, description="3 on a real Kafka cluster")
    session_timeout_ms: int = Field(6000, ge=1000, description="consumer group session timeout")
    worker_batch_size: int = Field(
        100, ge=1, description="messages per Faust batch, and at most held unacknowledged"
    )
    worker_batch_seconds: float = Field(0.2, gt=0)
    worker_chunk_records: int = Field(
        5000,
        ge=1,
        description="records per synchronous step (keeps heartbeats flowing; its batches of "
        "one schema are judged and enriched as one block)",
    )
    publish_batch_records: int = Field(
        DEFAULT_BATCH_RECORDS, ge=1, description="records per Kafka message; 1 = Confluent wire"
    )
    sink_batch_size: int = Field(400, ge=1, description="messages (up to 500 rows each)")
    sink_batch_seconds: float = Field(0.25, gt=0)
    lag_interval_seconds: float = Field(
        10.0, gt=0, description="how often the sink process samples consumer lag"
    )
    workers: int = Field(
        1,
        ge=1,
        description="worker processes `credit up` runs in one group (more than one: see "
        "README, a killed member's partition can stay unread on Tansu)",
    )
    worker_index: int = Field(
        0, ge=0, description="which of the platform's workers this process is (set by it)"
    )
    worker_recovery_timeout_seconds: float = Field(
        600.0,
        gt=0,
        description="a worker not ready this long (group join, table recovery) "
        "is killed and started again",
    )
    worker_store: Literal["rocksdb", "memory"] = Field(
        "rocksdb", description="worker table state: RocksDB under data_dir/worker, or memory"
    )
    worker_store_cache_mb: int = Field(16, ge=1, description="RocksDB block cache per partition")
    worker_store_write_buffer_mb: int = Field(8, ge=1, description="RocksDB memtable size")
    api_open: bool = Field(
        False, description="development only: calls without a token act as admin"
    )
    api_token: SecretStr | None = Field(None, description="the CLI's token for a remote API")
    token_hours: float = Field(12.0, gt=0, description="how long a person's access token lasts")
    watch_seconds: float = Field(
        2.0, ge=0, description="how often watchlist alerts are looked for and pushed (0: never)"
    )
    banned_jurisdiction: str = Field(
        "default",
        description="whose banned personal data applies (schemas/catalog/banned.yaml: "
        "`default` = seed 003's list; `hubei-jiangsu` also collects a person's real-estate "
        "registration)",
    )
    outbound_seconds: float = Field(
        2.0,
        ge=0,
        description="how often changes for the outbound targets are looked for (0: "
        "never; the targets are configured with `credit targets`)",
    )
    max_request_bytes: int = Field(8 * 1024 * 1024, description="HTTP API request size limit")
    max_request_records: int = 10000
    max_upload_bytes: int = Field(
        256 * 1024 * 1024, description="largest file `POST /api/files/{class}` takes"
    )
    query_row_limit: int = 10000
    query_seconds_limit: float = 10.0
    dirty_threshold: float = Field(
        0.2, ge=0, le=1, description="an upload refusing a larger share of its rows is held"
    )
    dirty_min_rows: int = Field(
        10, ge=1, description="uploads smaller than this are never held (too few to judge)"
    )
    dirty_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description='per class code or provider name, as JSON: {"legal_arrears": 0.5}',
    )
    intake_retention_hours: float = Field(
        24.0, ge=0, description="keep a decided upload's messages in the intake this long"
    )
    intake_source_retention_days: float = Field(
        1825.0, ge=0, description="keep the provider's original file (来源可溯) this long"
    )
    intake_check_seconds: float = Field(
        2.0, gt=0, description="how often the platform checks the intake against the store"
    )
    intake_stall_seconds: float = Field(
        60.0,
        gt=0,
        description="an upload with no row decided for this long is sent again "
        "from the intake (then after twice as long, and so on)",
    )
    analyst_url: str | None = Field(
        None, description="the analyst SQL engine (`credit analyst`); `credit up` sets its own"
    )
    analyst_host: str = Field("127.0.0.1", description="where `credit analyst` listens")
    analyst_port: int = Field(0, description="port `credit analyst` listens on (0: a free one)")
    analyst_clickhouse_url: str | None = Field(
        None, description="analyst SQL on a ClickHouse server, as its read-only analyst user"
    )
    analyst_refresh_seconds: float = Field(
        5.0, gt=0, description="how often changed analyst tables are copied to the engine"
    )
    analyst_max_memory_mb: int = Field(1000, ge=64, description="memory per analyst query")
    analyst_max_result_mb: int = Field(50, ge=1, description="result bytes per analyst query")
    workday_calendar_file: Path | None = Field(
        None,
        description="the credit office's holidays / make-up workdays (YAML); default "
        "<data_dir>/workdays.yaml if present",
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "text"

    def kafka_config(self, bootstrap: str) -> dict[str, Any]:
        """librdkafka's dotted keys for these settings (one place that knows them)."""
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
            conf["sasl.username"] = self.kafka_sasl_username or ""
            secret = self.kafka_sasl_password
            conf["sasl.password"] = secret.get_secret_value() if secret else ""
        if self.kafka_ssl_ca_location:
            conf["ssl.ca.location"] = str(self.kafka_ssl_ca_location)
        return conf

    @property
    def store_path(self) -> Path:
        return self.data_dir / "chdb"

    def dirty_threshold_for(self, class_code: str, provider: str) -> DirtyThreshold:
        """The provider's own threshold, else the class's, else the default."""
        by = self.dirty_thresholds
        share = by.get(provider, by.get(class_code, self.dirty_threshold))
        return DirtyThreshold(share, self.dirty_min_rows)

    @property
    def analyst_dir(self) -> Path:
        """The analysts' own engine and the tables copied to it (`sinks.read.analyst_engine`)."""
        return self.data_dir / "analyst"

    @property
    def workday_calendar_path(self) -> Path:
        return self.workday_calendar_file or self.data_dir / "workdays.yaml"

    @property
    def intake_dir(self) -> Path:
        """The durable intake (`producers/durable_intake.py`)."""
        return self.data_dir / "intake"

    @property
    def worker_ready_file(self) -> Path:
        """Where a worker says whether it has recovered its tables (the platform's /health)."""
        return worker_file(self.data_dir, "worker-ready", ".json", self.worker_index)

    @property
    def worker_count(self) -> int:
        """`workers`, but no more than there are partitions to share (the rest would idle)."""
        return min(self.workers, self.topic_partitions)

    @property
    def runtime_file(self) -> Path:
        """Where a running `credit up` writes its addresses for the other commands."""
        return self.data_dir / "runtime.json"


def worker_file(folder: Path, stem: str, suffix: str, index: int) -> Path:
    """A worker's own file: `worker-ready.json` for the first, `worker-ready-1.json` …"""
    return folder / (f"{stem}{suffix}" if index == 0 else f"{stem}-{index}{suffix}")

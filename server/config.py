"""Settings: every knob is an environment variable ``HERALD_<NAME>``; nothing else reads os.environ."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore")

    data_dir: Path = Field(Path(".herald"), description="Where the embedded SQLite file and key file live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy or plain URL (postgresql://user@host:5432/db). Unset: SQLite in data_dir."
    )
    redis_url: str | None = Field(None, description="Redis URL. Unset: embedded in-process broker and events.")
    redis_namespace: str = Field("herald", description="Prefix of every Redis key, queue and channel.")
    secret_keys: str | None = Field(
        None, description="Comma-separated base64 AES-256 keys, newest first. Unset: a key file in data_dir."
    )
    allowed_networks: str = Field(
        "", description="Comma-separated CIDRs outbound delivery may reach despite the private-address guard."
    )
    host: str = Field("127.0.0.1", description="Address `herald serve` binds.")
    port: int = Field(8000, description="Port `herald serve` binds.")
    api_key: str | None = Field(None, description="API key used by `herald mcp` (stdio) to authenticate.")
    log_level: str = Field("INFO", description="Python log level.")
    auto_migrate: bool = Field(True, description="Apply Alembic migrations when the server or a worker starts.")

    worker_threads: int = Field(4, ge=1, le=256, description="Delivery threads per worker process.")
    worker_poll_ms: int = Field(
        5,
        ge=1,
        le=10_000,
        description="Longest pause between broker polls when idle: lower picks up sooner, polls more.",
    )
    jobs_per_message: int = Field(
        100,
        ge=1,
        le=1000,
        description="Jobs one queue message carries: a worker claims, sends and records them as one batch.",
    )
    batch_patience_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How long a batch waits for its slowest requests before it records the rest and moves on.",
    )
    delivery_timeout_seconds: float = Field(10.0, gt=0, le=120, description="Timeout of one outbound request.")
    lease_seconds: float = Field(60.0, gt=0, description="How long a claimed job is held before the sweeper frees it.")
    sweep_interval_seconds: float = Field(5.0, gt=0, description="How often workers re-enqueue due and stale jobs.")
    enqueue_horizon_seconds: float = Field(
        3600.0,
        gt=0,
        description="Jobs due later than this get no delayed message yet: the scheduler tick sends it later.",
    )
    scheduler_tick_seconds: float = Field(
        5.0,
        gt=0,
        description="How often workers send the messages of jobs now due within the enqueue horizon (keep it lower).",
    )
    retry_max_attempts: int = Field(8, ge=1, le=50, description="Default attempts per job before dead letter.")
    retry_base_delay_seconds: float = Field(2.0, gt=0, description="Default base of the exponential backoff.")
    retry_max_delay_seconds: float = Field(3600.0, gt=0, description="Default cap of one backoff delay.")
    default_pause_seconds: float = Field(60.0, gt=0, description="Pause after a 429 that names no reset time.")
    max_pause_seconds: float = Field(3600.0, gt=0, description="Longest pause a 429 can cause.")
    circuit_failure_rate: float = Field(0.2, gt=0, le=1, description="Failure rate that opens a target's circuit.")
    circuit_min_attempts: int = Field(10, ge=1, description="Attempts in the window before the failure rate counts.")
    circuit_window_seconds: float = Field(300.0, gt=0, description="Rolling window of the circuit's failure rate.")
    circuit_cooldown_seconds: float = Field(600.0, gt=0, description="How long an open circuit stays open.")
    limit_recheck_seconds: float = Field(
        0.25, gt=0, description="How soon a job held back by a rate or concurrency limit is tried again (minimum)."
    )
    dead_letter_retention_days: float = Field(30.0, gt=0, description="Dead letters older than this are purged.")
    dead_letter_max_count: int = Field(100_000, ge=1, description="Most dead letters kept per workspace.")
    idempotency_ttl_hours: float = Field(24.0, gt=0, description="How long an idempotency key is remembered.")
    idempotency_lock_seconds: float = Field(
        120.0, gt=0, description="After this, an unfinished request's idempotency key may be taken over."
    )
    await_default_seconds: float = Field(10.0, gt=0, description="Default awaitTimeoutSeconds.")
    await_max_seconds: float = Field(30.0, gt=0, description="Cap of awaitTimeoutSeconds.")
    mcp_hide_mutations: bool = Field(
        False, description="List only read-only tools over MCP (for agents that must never change anything)."
    )
    max_request_bytes: int = Field(1_048_576, ge=1024, description="Largest request body /graphql and /mcp accept.")
    graphql_max_depth: int = Field(12, ge=2, description="Deepest GraphQL selection accepted.")
    graphql_max_aliases: int = Field(30, ge=1, description="Most aliases in one GraphQL document.")
    graphql_max_tokens: int = Field(5000, ge=100, description="Largest GraphQL document, in tokens.")
    confirm_above_targets: int = Field(
        100,
        ge=1,
        description="Plans reaching more targets need a confirmationToken from a dry run of the same request.",
    )
    quota_plans_per_hour: int = Field(1000, ge=1, description="Plans one API key may create per hour.")
    quota_targets_per_plan: int = Field(10_000, ge=1, description="Most targets one plan may reach.")
    signing_overlap_hours: float = Field(
        24.0, ge=0, description="Default overlap of old and new webhook signing secrets."
    )
    public_url: str | None = Field(
        None,
        description="Base URL people reach this server at (unsubscribe links). Unset: http://127.0.0.1:<port>.",
    )
    attachment_max_bytes: int = Field(10_485_760, ge=1, description="Largest single attachment of a plan (bytes).")
    attachments_max_total_bytes: int = Field(26_214_400, ge=1, description="Largest total of a plan's attachments.")
    dry_run_render_limit: int = Field(
        20, ge=1, le=1000, description="Payloads a dry run renders exactly per target (the rest are counted)."
    )
    max_recipients_per_plan: int = Field(100_000, ge=1, description="Most recipients one plan may address.")
    bootstrap_key: bool = Field(
        True, description="On first start with no API key at all, create one and print it once."
    )

    @cached_property
    def allowed_network_list(self) -> list[str]:
        return [part.strip() for part in self.allowed_networks.split(",") if part.strip()]

    @cached_property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @cached_property
    def embedded(self) -> bool:
        return not self.redis_url

"""Settings: every knob is an environment variable ``HERALD_<NAME>``; nothing else reads os.environ."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from platformdirs import user_data_path
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The folder older versions used, relative to wherever a command started.
LEGACY_DATA_DIR = Path(".herald")


# What development mode opens to outbound delivery: local receivers only.
DEV_NETWORKS = ("127.0.0.0/8", "::1/128")
DEV_BANNER = (
    "DEVELOPMENT MODE (--dev / HERALD_DEV): deliveries may reach loopback addresses (127.0.0.0/8, ::1) so local "
    "receivers work. Never use it in production."
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_data_dir() -> Path:
    """The per-user data directory (``~/.local/share/herald`` on Linux, honouring ``XDG_DATA_HOME``)."""
    return user_data_path("herald", appauthor=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded SQLite file and key file live. Unset: the per-user data directory.",
    )
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
    dev: bool = Field(
        False,
        description="Development: outbound delivery may reach loopback (local receivers); `herald serve` refuses "
        "it unless bound to a loopback address.",
    )
    host: str = Field("127.0.0.1", description="Address `herald serve` binds.")
    port: int = Field(8000, description="Port `herald serve` binds.")
    api_key: str | None = Field(None, description="API key used by `herald mcp` (stdio) to authenticate.")
    log_level: str = Field("INFO", description="Python log level.")
    log_format: Literal["text", "json"] = Field(
        "text", description="text: one readable line per record; json: one JSON object per line."
    )
    worker_heartbeat_seconds: float = Field(
        5.0, gt=0, le=300, description="How often a worker records that it is alive (three missed beats: gone)."
    )
    auto_migrate: bool = Field(True, description="Apply Alembic migrations when the server or a worker starts.")

    worker_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port a `herald worker` serves its Prometheus metrics on (/metrics, bound to HERALD_HOST); "
        "0: none.",
    )
    worker_threads: int = Field(4, ge=1, le=256, description="Delivery threads per worker process.")
    worker_poll_ms: int = Field(
        5,
        ge=1,
        le=10_000,
        description="Longest pause between broker polls when idle: lower picks up sooner, polls more.",
    )
    jobs_per_message: int = Field(
        250,
        ge=1,
        le=1000,
        description="Jobs one queue message carries: a worker claims, sends and records them as one batch.",
    )
    target_view_cache_size: int = Field(
        20_000,
        ge=0,
        le=1_000_000,
        description="Decrypted target views a worker keeps between batches (about 2 KB each; 0: none).",
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
    eager_delivery_max_jobs: int = Field(
        10,
        ge=0,
        le=100,
        description="An awaitDelivery plan of at most this many jobs, all due now, is delivered by the process "
        "serving the call right after its commit, through the workers' claim (0: always left to the workers).",
    )
    mcp_hide_mutations: bool = Field(
        False, description="List only read-only tools over MCP (for agents that must never change anything)."
    )
    live_keepalive_seconds: float = Field(
        15.0, gt=0, le=300, description="How often an idle SSE progress stream sends a keep-alive comment."
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
        description=(
            "Base URL people, feed readers and WebSub hubs reach this server at (unsubscribe links, feed URLs). "
            "Unset: http://127.0.0.1:<port>."
        ),
    )
    attachment_max_bytes: int = Field(10_485_760, ge=1, description="Largest single attachment of a plan (bytes).")
    attachments_max_total_bytes: int = Field(26_214_400, ge=1, description="Largest total of a plan's attachments.")
    dry_run_render_limit: int = Field(
        20, ge=1, le=1000, description="Payloads a dry run renders exactly per target (the rest are counted)."
    )
    max_recipients_per_plan: int = Field(100_000, ge=1, description="Most recipients one plan may address.")
    console_session_seconds: int = Field(
        28_800, ge=60, le=30 * 86_400, description="How long a console sign-in lasts (seconds) before signing in again."
    )
    bootstrap_key: bool = Field(
        True, description="On first start with no API key at all, create one and print it once."
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def data_dir_source(self) -> str:
        return "HERALD_DATA_DIR" if "data_dir" in self.model_fields_set else "the per-user default"

    def describe_storage(self) -> str:
        """One line saying which data directory and database this process uses, and why (said on start)."""
        folder = f"data directory {self.data_dir} (from {self.data_dir_source})"
        if self.database_url:
            return f"{folder}; database {redact_url(self.database_url)}"
        return f"{folder}; database SQLite {self.data_dir / 'herald.db'}"

    def legacy_data_dir_hint(self) -> str | None:
        """A warning when an older ./.herald folder sits here but another data directory is in use."""
        here = LEGACY_DATA_DIR.absolute()
        if (here / "herald.db").exists() and here != self.data_dir:
            return f"A data directory {here} from an older version exists here; set HERALD_DATA_DIR={here} to use it."
        return None

    @cached_property
    def allowed_network_list(self) -> list[str]:
        networks = [part.strip() for part in self.allowed_networks.split(",") if part.strip()]
        if self.dev:
            networks += [net for net in DEV_NETWORKS if net not in networks]
        return networks

    def dev_refusal(self) -> str | None:
        """Why development mode may not serve here (bound to a non-loopback address), or None."""
        if self.dev and not is_loopback(self.host):
            return (
                f"Development mode opens loopback to outbound delivery and is refused on {self.host}: bind "
                "127.0.0.1 (HERALD_HOST / --host), or drop --dev / HERALD_DEV and list the networks a deployment "
                "may reach in HERALD_ALLOWED_NETWORKS."
            )
        return None

    @cached_property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @cached_property
    def embedded(self) -> bool:
        return not self.redis_url


def redact_url(url: str) -> str:
    """The URL without its password (``postgresql://user:***@host/db``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url

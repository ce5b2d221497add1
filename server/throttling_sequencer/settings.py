"""Settings from the environment (THROTTLING_*), with safe local defaults.

Parsed by pydantic-settings: each field is the variable THROTTLING_<FIELD>, typed by its
annotation; nested sections (the bridges' settings, bridge/settings.py) are THROTTLING_<SECTION>_
<FIELD>. Building a Settings object never reads the environment: only `from_env` does, so tests
and tools get exactly what they pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

PREFIX = "THROTTLING_"
StorageKind = Literal["sqlite", "postgres", "memory"]
STORAGE_KINDS: tuple[StorageKind, ...] = ("sqlite", "postgres", "memory")
#: What pydantic's parse errors mean, in the words the old parser used.
_KINDS = {"int_parsing": "int", "float_parsing": "float", "bool_parsing": "bool"}


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


#: A list setting, written in the environment as one comma-separated value (not JSON).
CommaSeparated = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_nested_delimiter="_", env_nested_max_split=1, frozen=True
    )

    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    #: Where the embedded SQLite database lives.
    data_dir: Path = Path(".data")
    #: sqlite://PATH, postgres://USER:PASS@HOST:PORT/DB, or memory:// (nothing persisted).
    #: Empty means SQLite under data_dir (WAL, synchronous=NORMAL).
    database_url: str = ""
    #: Journal plans locally and write them to the database in the background: "auto" (on for
    #: postgres, where the database is across a network), "on" or "off".
    outbox: str = "auto"
    #: Set by the `serve --workers` supervisor: each worker keeps its own outbox journal.
    worker_index: int = 0
    #: Most answered plans the outbox holds before the database has them; past it, new plans are
    #: refused (RESOURCE_EXHAUSTED) until the database catches up.
    outbox_max_pending: int = 100_000
    #: Most bytes of journal lines those plans may take (which also bounds their memory).
    outbox_max_pending_bytes: int = 128 * 1024 * 1024
    default_strategy: str = "exact"
    #: Threads of the quick planning lane: plans allowed at most quick_plan_ms (the default budget).
    planner_threads: int = 4
    #: Threads of the long planning lane: plans allowed more than quick_plan_ms. Long plans queue
    #: behind each other here, never in front of quick ones.
    long_planner_threads: int = 2
    #: Plans whose time budget, capped by the caller's deadline, is at most this go to the quick lane.
    quick_plan_ms: int = 1_000
    #: The most of a caller's remaining time (20 % of it at most) kept back for storing and
    #: answering a plan, when the caller's deadline comes before the plan's time budget.
    answer_reserve_ms: int = 250
    max_units: int = 1_000
    #: Most units one CreatePlanBatch plans (its assignments, or its player units when it gives none).
    max_batch_assignments: int = 1_000
    #: Most goals one CreatePlanBatch answer may hold (units x max_ticks): bounds the answer's size
    #: (about 3 MB of protobuf, 7 MB of JSON through Envoy) before anything is planned.
    max_batch_goals: int = 100_000
    #: Largest request message accepted, in bytes (a 1,000-unit game state is about 60 KB).
    max_message_bytes: int = 1_048_576
    #: Largest request metadata (headers) accepted, in bytes; larger is RESOURCE_EXHAUSTED. One
    #: number for gRPC's soft and hard limits, so the refusal is certain, not probabilistic.
    max_metadata_bytes: int = 16_384
    #: Concurrent streams one HTTP/2 connection may hold open.
    max_concurrent_streams: int = 64
    #: Longest a server stream may run before it is ended with DEADLINE_EXCEEDED.
    max_stream_seconds: float = 600.0
    #: Longest a guidance session (Guide) waits for the caller's next message before it is ended
    #: with DEADLINE_EXCEEDED (SESSION_IDLE).
    guide_idle_seconds: float = 30.0
    shutdown_grace_seconds: float = 10.0
    reflection: bool = True
    #: Server processes sharing the port (`serve --workers`); the supervisor gives each worker 1.
    workers: int = 1
    #: Set by the `serve --workers` supervisor on each worker: it serves and never supervises.
    supervised: bool = False
    reuse_port: bool = False
    #: OIDC issuer whose tokens are accepted; empty turns authentication off (development mode).
    auth_issuer: str = ""
    auth_audience: str = "throttling-sequencer"
    #: JWKS URL; empty means discovery from the issuer.
    auth_jwks_url: str = ""
    auth_algorithms: str = "RS256,ES256"
    auth_leeway_seconds: float = 30.0
    #: Least seconds between JWKS refetches for unknown key ids (rotation vs. abuse).
    auth_refresh_cooldown_seconds: float = 10.0
    #: Seconds the issuer's keys are used before a background refresh (the old keys keep serving).
    auth_jwks_lifespan_seconds: float = 300.0
    #: Seconds a failed discovery/JWKS fetch is remembered before the issuer is asked again.
    auth_jwks_failure_cache_seconds: float = 5.0
    #: Seconds one discovery or JWKS request may take.
    auth_jwks_timeout_seconds: float = 5.0
    #: Callers whose token lists this role read every user's plans; empty: nobody does.
    auth_admin_role: str = "throttling-admin"
    #: Dotted path to the token's roles (Keycloak's realm roles: realm_access.roles).
    auth_roles_claim: str = "realm_access.roles"
    #: PEM certificate chain and key for TLS on the gRPC port; both empty means plaintext.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    #: Prometheus /metrics port (each worker adds its index); 0 turns the endpoint off.
    metrics_port: int = 9464
    log_level: str = "INFO"
    #: "json" (one JSON object per line) or "text".
    log_format: str = "json"
    #: "none", "console" or "otlp" (to OTEL_EXPORTER_OTLP_ENDPOINT); traces are created either way
    #: so logs carry trace ids.
    otel_exporter: str = "none"
    #: Share of the traces this server starts (calls without a sampled traceparent) that record
    #: spans, 0..1; unset: 1 with an exporter, 0 without. Sampled parents are always recorded.
    otel_sampler_ratio: float | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Constructing takes only what is passed; `from_env` is the one reader of the environment."""
        return (init_settings,)

    @property
    def resolved_database_url(self) -> str:
        # WAL with synchronous=NORMAL: a commit survives a crash of the process (not of the
        # machine's power) without an fsync per plan.
        return self.database_url or f"sqlite://{self.data_dir / 'throttling.sqlite3'}?synchronous=NORMAL"

    @property
    def storage_kind(self) -> StorageKind:
        """Which store the database URL names (`check` refuses any other scheme)."""
        scheme = self.resolved_database_url.split("://", 1)[0]
        for kind in STORAGE_KINDS:
            if scheme == kind:
                return kind
        raise SettingsError(f"{PREFIX}DATABASE_URL must start with sqlite://, postgres:// or memory://")

    @property
    def embedded_database(self) -> bool:
        """The database is a file of this server's (SQLite): it creates it and keeps its schema current."""
        return self.storage_kind == "sqlite"

    @property
    def uses_outbox(self) -> bool:
        if self.outbox == "auto":
            return self.storage_kind == "postgres"
        return self.outbox == "on" and self.storage_kind != "memory"

    @property
    def outbox_journal(self) -> Path:
        """This worker's journal directory. Worker 0 also adopts, on start, the journals of indexes
        >= `workers` that no running process holds."""
        return self.data_dir / f"outbox-{self.worker_index}"

    @property
    def grpc_address(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Settings from THROTTLING_* variables (of `environ`, else the process's environment)."""
        source = _Environment(cls, os.environ if environ is None else environ)
        return cls._checked(source())

    def with_changes(self, **changes: Any) -> Self:
        return self._checked(self.model_dump() | changes)

    @classmethod
    def _checked(cls, values: Mapping[str, Any]) -> Self:
        try:
            settings = cls.model_validate(values)
        except ValidationError as error:
            raise SettingsError("; ".join(_describe(e) for e in error.errors())) from None
        problems = settings.problems()
        if problems:
            raise SettingsError("; ".join(PREFIX + p for p in problems))
        return settings

    def problems(self) -> list[str]:
        """Every rule the values break, each naming its variable (without the THROTTLING_ prefix)."""
        problems = []
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            problems.append("TLS_CERT_FILE and TLS_KEY_FILE go together")
        if not 0 <= self.metrics_port <= 65535:
            problems.append("METRICS_PORT must be 0..65535")
        if not 0 <= self.grpc_port <= 65535:
            problems.append("GRPC_PORT must be 0..65535")
        if not 1 <= self.workers <= 64:
            problems.append("WORKERS must be 1..64")
        if self.supervised and self.workers != 1:
            problems.append("WORKERS must be 1 in a worker (SUPERVISED is set): a worker never supervises")
        if self.max_metadata_bytes < 8_192:
            problems.append("MAX_METADATA_BYTES must be >= 8192 (bearer tokens take up to 8192)")
        if self.planner_threads < 1:
            problems.append("PLANNER_THREADS must be >= 1")
        if self.long_planner_threads < 1:
            problems.append("LONG_PLANNER_THREADS must be >= 1")
        if not 1 <= self.quick_plan_ms <= 60_000:
            problems.append("QUICK_PLAN_MS must be 1..60000")
        if not 0 <= self.answer_reserve_ms <= 60_000:
            problems.append("ANSWER_RESERVE_MS must be 0..60000")
        if not self.max_stream_seconds > 0 or not self.guide_idle_seconds > 0:
            problems.append("MAX_STREAM_SECONDS and GUIDE_IDLE_SECONDS must be > 0")
        if self.max_units < 1:
            problems.append("MAX_UNITS must be >= 1")
        if self.max_batch_assignments < 1:
            problems.append("MAX_BATCH_ASSIGNMENTS must be >= 1")
        if self.max_batch_goals < 1:
            problems.append("MAX_BATCH_GOALS must be >= 1")
        if self.default_strategy not in ("exact", "genetic", "random"):
            problems.append("DEFAULT_STRATEGY must be exact, genetic or random")
        if self.auth_issuer and not self.auth_issuer.startswith(("https://", "http://")):
            problems.append("AUTH_ISSUER must be an http(s) URL")
        if {a.strip() for a in self.auth_algorithms.split(",")} & {"none", "HS256", "HS384", "HS512"}:
            problems.append("AUTH_ALGORITHMS must list asymmetric algorithms only (e.g. RS256,ES256)")
        if min(self.auth_jwks_lifespan_seconds, self.auth_jwks_failure_cache_seconds) < 0:
            problems.append("AUTH_JWKS_LIFESPAN_SECONDS and AUTH_JWKS_FAILURE_CACHE_SECONDS must be >= 0")
        if not self.auth_jwks_timeout_seconds > 0:
            problems.append("AUTH_JWKS_TIMEOUT_SECONDS must be > 0")
        if not all(self.auth_roles_claim.split(".")):
            problems.append("AUTH_ROLES_CLAIM must be a dotted claim path, e.g. realm_access.roles")
        if self.outbox not in ("auto", "on", "off"):
            problems.append("OUTBOX must be auto, on or off")
        if self.outbox_max_pending < 1 or self.outbox_max_pending_bytes < 1:
            problems.append("OUTBOX_MAX_PENDING and OUTBOX_MAX_PENDING_BYTES must be >= 1")
        if self.worker_index < 0:
            problems.append("WORKER_INDEX must be >= 0")
        if self.log_format not in ("json", "text"):
            problems.append("LOG_FORMAT must be json or text")
        if self.otel_exporter not in ("none", "console", "otlp"):
            problems.append("OTEL_EXPORTER must be none, console or otlp")
        if self.otel_sampler_ratio is not None and not 0.0 <= self.otel_sampler_ratio <= 1.0:
            problems.append("OTEL_SAMPLER_RATIO must be 0..1")
        if not self.resolved_database_url.startswith(tuple(f"{kind}://" for kind in STORAGE_KINDS)):
            problems.append("DATABASE_URL must start with sqlite://, postgres:// or memory://")
        return problems


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _describe(error: Any) -> str:
    """One pydantic error as the variable it concerns, its value and why it is refused."""
    name = PREFIX + "_".join(str(part) for part in error["loc"]).upper()
    kind = _KINDS.get(error["type"])
    reason = f"is not a valid {kind}" if kind else error["msg"]
    return f"{name}={error['input']!r} {reason}"

"""Settings from the environment and `.env`: the only reader of os.environ."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.proxies import Network, parse_networks


class SettingsError(Exception):
    """The configuration cannot start a server."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )

    env: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path(".data")
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = Field(default="ua", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    db_pool_min: int = Field(default=1, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    sql_timeout_s: float = Field(default=10.0, gt=0)
    log_level: str = "INFO"

    jwt_secret: str | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_ttl_s: int = Field(default=900, gt=0)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, gt=0)
    invitation_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)
    login_rate_limit: int = Field(default=5, ge=1)
    login_ip_rate_limit: int = Field(default=50, ge=1)
    login_rate_window_s: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)

    ws_max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    ws_max_document_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    ws_rate_limit_per_s: int = Field(default=200, ge=1)
    ws_auth_timeout_s: float = Field(default=10.0, gt=0)
    ws_ping_interval_s: float = Field(default=20.0, gt=0)
    ws_idle_timeout_s: float = Field(default=60.0, gt=0)
    ws_max_documents_per_socket: int = Field(default=64, ge=1)
    ws_outbox_frames: int = Field(default=1024, ge=1)
    # Limits on what one client can make the server do (see README "Security").
    ws_outbox_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    ws_max_messages_per_frame: int = Field(default=16, ge=1)
    ws_awareness_clients_per_peer: int = Field(default=8, ge=1)
    ws_awareness_bytes: int = Field(default=64 * 1024, ge=256)
    ws_preauth_messages: int = Field(default=256, ge=1)
    ws_keepalive_s: float = Field(default=15.0, gt=0)
    room_idle_unload_s: float = Field(default=30.0, ge=0)
    journal_max_batch: int = Field(default=512, ge=1)
    # Accepted edits waiting for the database (an outage) are bounded: past this, edits are
    # refused (close 1013, the client keeps them and retries) instead of held without limit.
    journal_queue_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Pub/sub messages waiting for Redis (retried in order); past this they are dropped and
    # the other nodes told to catch up from the log.
    pubsub_outbox_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    anti_entropy_s: float = Field(default=2.0, gt=0)  # loaded rooms vs the log's head
    compaction_threshold: int = Field(default=500, ge=2)
    status_debounce_s: float = Field(default=1.0, gt=0)
    status_max_wait_s: float = Field(default=5.0, gt=0)
    version_on_complete: bool = True

    openai_api_key: str | None = None
    openai_base_url: str | None = None
    ai_model: str = "gpt-4o"
    ai_timeout_s: float = Field(default=60.0, gt=0)
    ai_max_retries: int = Field(default=3, ge=0)
    ai_top_k: int = Field(default=6, ge=1, le=50)
    ai_max_tokens: int = Field(default=4096, ge=1)
    embedding_provider: Literal["auto", "hashing", "openai", "local"] = "auto"
    embedding_model: str = "text-embedding-3-small"
    embedding_dimensions: int = Field(default=1536, ge=8, le=4096)
    rag_chunk_chars: int = Field(default=1200, ge=200)
    rag_overlap_chars: int = Field(default=200, ge=0)

    export_dir_setting: Path | None = Field(default=None, alias="export_dir")
    export_ttl_s: int = Field(default=24 * 3600, ge=1)
    export_sweep_s: float = Field(default=60.0, gt=0)
    export_heartbeat_s: float = Field(default=2.0, gt=0)
    tasks_in_process: bool = False  # with REDIS_URL: True runs tasks here instead of `ua worker`
    task_concurrency: int = Field(default=4, ge=1)

    # -- Hardening: per-user quotas ----------------------------------------------------------
    # Counted in the database, so every node shares them; past one: 429 with Retry-After.
    ai_max_active_per_user: int = Field(default=3, ge=1)  # generations streaming at once
    export_max_pending_per_user: int = Field(default=5, ge=1)  # exports queued or running
    export_max_pending_per_project: int = Field(default=10, ge=1)  # the same, per project
    export_queue_timeout_s: float = Field(default=3600.0, gt=0)  # then failed: frees the quota

    # -- Hardening: forwarded headers and registration ------------------------------------
    # TRUSTED_PROXIES: comma-separated IPs/CIDRs of the reverse proxies in front of us. Only a
    # peer in this list may set the client address (X-Forwarded-For) and scheme; empty (the
    # default) trusts nobody, so no client can pick its own address for the rate limits.
    trusted_proxies: str = ""
    register_rate_limit: int = Field(default=10, ge=1)  # registrations per address per window
    register_rate_window_s: int = Field(default=600, ge=1)
    # REGISTRATION: who may create an account through the API. `invite`: only an email with a
    # pending invitation; `closed`: nobody (`ua admin create-user` always works).
    registration: Literal["open", "invite", "closed"] = "open"

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env == "production":
            missing = [
                name
                for name, value in (
                    ("JWT_SECRET", self.jwt_secret),
                    ("DATABASE_URL", self.database_url),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"ENV=production requires {', '.join(missing)}")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        parse_networks(value)  # fail at start-up, not on the first forwarded request
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def chat_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def export_dir(self) -> Path:
        """EXPORT_DIR, or DATA_DIR/exports."""
        return self.export_dir_setting or self.data_dir / "exports"

    @cached_property
    def secret(self) -> str:
        """JWT_SECRET, or one generated once and kept in DATA_DIR."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt_secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc

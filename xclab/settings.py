"""One Settings object for every role; nothing else reads the environment."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

HOME_DIR = Path(".xclab")
TOKEN_FILE_MAX_BYTES = 4096


class TokenFileError(ValueError):
    """XCL_API_TOKEN_FILE names a file that cannot serve as a token: missing, empty or too large."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="XCL_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    home: Path = Field(default=HOME_DIR, description="Folder for the embedded database, broker and token.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite under home.")
    broker_url: str | None = Field(default=None, description="Celery broker; default: filesystem under home.")
    artifact_root: Path | None = Field(
        default=None, description="Where artifacts are stored; default: home/artifacts."
    )
    api_token: str | None = Field(
        default=None,
        description="The token this process sends (for `xclab serve`: the admin token); default: api_token_file, "
        "else home/token.",
    )
    api_token_file: Path | None = Field(
        default=None,
        description="A file holding the token (e.g. a worker token written by `xclab token ensure`, or a secret "
        f"mounted by the container runtime); read when api_token is unset; at most {TOKEN_FILE_MAX_BYTES} bytes.",
    )
    api_url: str = Field(
        default="http://127.0.0.1:8000", description="Where workers and the dashboard reach the API."
    )
    api_retry_seconds: float = Field(
        default=120.0,
        description="How long workers and the CLI retry a request that is safe to repeat (rides out API restarts).",
    )
    insecure_no_auth: bool = Field(
        default=False,
        description="Accept every request without a token (a local sandbox only; never exposed).",
    )
    read_requires_auth: bool = Field(default=False, description="Require the token for reads too.")
    max_artifact_bytes: int = Field(
        default=2 * 1024**3, description="Largest artifact upload accepted (bytes); larger ones get 413."
    )
    max_log_bytes_per_run: int = Field(
        default=16 * 1024**2,
        ge=1024,
        description="A run's console log is kept up to this many bytes; what follows is cut with a marker.",
    )
    system_metrics_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How often a worker logs a run's system/* metrics (CPU, RAM, GPU); 0 turns them off.",
    )
    default_queue: str = Field(default="cpu", description="Queue for runs that do not name one.")
    heartbeat_seconds: float = Field(
        default=2.0, description="How often a worker heartbeats and checks for cancel."
    )
    heartbeat_timeout_seconds: float = Field(
        default=300.0,
        description="A running run silent this long is re-queued, or failed after max_attempts.",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Attempts a run gets in all when its worker dies (1: fail at once)."
    )
    visibility_timeout_seconds: int = Field(
        default=7 * 24 * 3600, description="Redis redelivery timeout (> longest run)."
    )
    torch_threads: int | None = Field(
        default=None,
        description="Threads of a worker process outside its runs; default: cores / concurrency. A run pins "
        "its own intra-op threads (its `threads` hyperparameter, default 1) so its numbers never depend on "
        "the worker.",
    )
    worker_stale_seconds: float = Field(
        default=60.0, description="A worker without an inventory heartbeat this long is shown as stale."
    )
    worker_inventory_seconds: float = Field(
        default=15.0, description="How often a worker reports its inventory."
    )
    worker_gpus: str | None = Field(
        default=None,
        description="The GPUs a worker reports, as JSON [{index, name, memory_mb}]; default: from nvidia-smi.",
    )
    dashboard_port: int = 8501
    dashboard_host: str = Field(
        default="127.0.0.1",
        description="Interface the dashboard listens on (0.0.0.0 exposes it to the network).",
    )
    data_root: Path = Field(default=Path("data"), description="Where the real datasets live.")
    cache_dir: Path | None = Field(
        default=None,
        description="Derived-data cache (rendered datasets, teacher checkpoints); default: home/cache.",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'xclab.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def broker_folder(self) -> Path:
        return (self.home / "broker").resolve()

    @property
    def resolved_artifact_root(self) -> Path:
        return (self.artifact_root or self.home / "artifacts").resolve()

    @property
    def resolved_cache_dir(self) -> Path:
        return (self.cache_dir or self.home / "cache").resolve()

    @property
    def token_file(self) -> Path:
        return self.home / "token"

    def resolved_api_token(self) -> str | None:
        """The configured token, else the one in api_token_file, else the one `xclab up` stored under home. A named
        token file that is missing or empty is an error: falling back to no token would fail later, unclearly."""
        if self.api_token:
            return self.api_token
        if self.api_token_file is not None:
            return read_token_file(self.api_token_file)
        if self.token_file.exists():
            return self.token_file.read_text().strip() or None
        return None

    def ensure_api_token(self) -> str:
        """Return the admin token, generating and storing one under home if none exists."""
        token = self.resolved_api_token()
        if token:
            return token
        self.home.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        self.token_file.write_text(token + "\n")
        self.token_file.chmod(0o600)
        return token


def read_token_file(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > TOKEN_FILE_MAX_BYTES:
            raise TokenFileError(
                f"api_token_file {path} is {size} bytes; a token file holds one token (at most {TOKEN_FILE_MAX_BYTES})"
            )
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"api_token_file {path} cannot be read: {exc}") from None
    if not token or any(c.isspace() for c in token):
        raise TokenFileError(
            f"api_token_file {path} must hold exactly one token (it is empty or has several words)"
        )
    return token


@lru_cache
def get_settings() -> Settings:
    return Settings()

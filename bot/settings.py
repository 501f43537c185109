"""Settings from the environment (prefix THESISWATCH_) and an optional .env file."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import rules

__all__ = [
    "DATA_DIR",
    "DEFAULT_FEEDS",
    "DEFAULT_RULES",
    "EXAMPLE_THESES",
    "PREFIX",
    "Settings",
    "SettingsError",
    "load",
    "unknown_variables",
]

PREFIX = "THESISWATCH_"
# Read by the test suite and the benchmarks, not by the program: no warning for them.
_NOT_SETTINGS = frozenset({"THESISWATCH_TEST_PG", "THESISWATCH_REQUIRE_PG", "THESISWATCH_BENCH_PG"})

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_FEEDS = DATA_DIR / "feeds.yaml"
DEFAULT_RULES = Path(rules.__file__).parent / "default"
# Example theses (one folder each) that the demo and the tests run next to the default one.
EXAMPLE_THESES = Path(rules.__file__).parent / "examples"


class SettingsError(Exception):
    """One line naming the setting and what is wrong with it."""


def _id_list(value: object, what: str) -> object:
    """'123, -100456' -> [123, -100456]; chats and users are Telegram's integer ids."""
    if not isinstance(value, str):
        return value
    ids = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            ids.append(int(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a {what}: {_ID_HELP[what]}") from None
    return ids


_ID_HELP = {
    "chat id": (
        "Telegram needs the numeric id (like -1001234567890 for a group), not a @username "
        "or a title; the bot's refusal in a chat it does not serve names that chat's id"
    ),
    "user id": (
        "Telegram needs the numeric id (like 123456789), not a @username; "
        "the bot logs the user id of each update it refuses"
    ),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="THESISWATCH_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        "sqlite:///./data/thesiswatch.db", description="SQLAlchemy URL of the database"
    )
    feeds: Path = Field(DEFAULT_FEEDS, description="feeds YAML file")
    rules_dir: Annotated[tuple[Path, ...], NoDecode] = Field(
        (DEFAULT_RULES,),
        description=(
            "rules folder: one thesis, or a folder of thesis folders; several theses' folders "
            "separated by ':' (the first thesis is the default)"
        ),
    )
    telegram_token: SecretStr | None = Field(None, description="Bot API token; unset: console")
    telegram_api_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API base URL (self-hosted servers)"
    )
    allowed_chats: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="chat ids that get answers and alerts"
    )
    admins: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="user ids allowed to change things"
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    library_log_level: str = Field(
        "WARNING", description="the same for libraries (alembic, APScheduler, httpx, PTB)"
    )
    max_feed_bytes: int = Field(10 * 1024 * 1024, gt=0, description="body-size cap per fetch")
    fetch_concurrency: int = Field(20, ge=1, le=500, description="fetches in flight overall")
    allow_private_redirects: bool = Field(
        False, description="follow feed redirects into loopback, link-local and private ranges"
    )
    ops_host: str = Field("127.0.0.1", description="address of the /healthz and /metrics server")
    ops_port: int = Field(
        8080, ge=-1, le=65535, description="its port; 0 picks a free one, -1 turns it off"
    )
    health_max_poll_age_s: int = Field(
        3600, ge=60, description="/healthz fails when no feed was polled this long"
    )
    retention_days: int = Field(
        90, ge=0, description="prune items and deliveries older than this; 0 keeps everything"
    )
    min_feed_interval: int = Field(
        60, ge=1, description="shortest feed interval the feeds file may ask for, in seconds"
    )
    timezone: str = Field("UTC", description="zone times are shown in: UTC or an IANA name")
    max_alert_age_h: int = Field(
        72, ge=1, description="news published longer ago than this, in hours, never alerts"
    )
    delivery_max_age_s: int = Field(
        1800,
        ge=0,
        description="alerts older than this when they can be sent go out as one summary per"
        " chat; 0 sends every one",
    )
    delivery_tick_s: float = Field(
        2.0, gt=0, le=3600, description="fallback delivery pass interval; passes run on alerts"
    )
    health_max_delivery_stall_s: int = Field(
        120, ge=10, description="/healthz fails when alerts waited this long and none went out"
    )

    @field_validator("allowed_chats", mode="before")
    @classmethod
    def _chat_ids(cls, value: object) -> object:
        return _id_list(value, "chat id")

    @field_validator("admins", mode="before")
    @classmethod
    def _user_ids(cls, value: object) -> object:
        return _id_list(value, "user id")

    @property
    def max_alert_age(self) -> timedelta:
        """``max_alert_age_h`` as a duration."""
        return timedelta(hours=self.max_alert_age_h)

    @property
    def zone(self) -> tzinfo:
        """``timezone`` as a tzinfo."""
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
            return "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: UTC or a name like Europe/London"
            ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if value.startswith("postgres:"):
            value = "postgresql:" + value.removeprefix("postgres:")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("log_level", "library_log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator("feeds")
    @classmethod
    def _feeds_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("rules_dir", mode="before")
    @classmethod
    def _rules_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(p) for p in value.split(os.pathsep) if p.strip())
        return (value,) if isinstance(value, Path) else value

    @field_validator("rules_dir")
    @classmethod
    def _rules_exists(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        if not value:
            raise ValueError("no rules folder")
        for folder in value:
            if not folder.is_dir():
                raise ValueError(f"no such folder: {folder}")
        return value


def unknown_variables(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> list[str]:
    """A warning per THESISWATCH_* variable (environment or .env) that is no setting.

    A misspelt one (``THESISWATCH_TELEGRAM_TOKNE``) was silently ignored, and the bot ran on
    the console without saying why. Names are compared as pydantic-settings does, ignoring case.
    """
    names = [k for k in (environ if environ is not None else os.environ)]
    if dotenv is not None and dotenv.is_file():
        from dotenv import dotenv_values

        names += [k for k in dotenv_values(dotenv) if k not in names]
    known = [PREFIX + name.upper() for name in Settings.model_fields]
    warnings = []
    for name in names:
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known or upper in _NOT_SETTINGS:
            continue
        near = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        hint = f"; did you mean {near[0]}?" if near else " (README.md lists the settings)"
        warnings.append(f"{name} is not a setting, ignored{hint}")
    return warnings


def load(**overrides: object) -> Settings:
    """Settings from the environment, or :class:`SettingsError` naming the bad one."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        message = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"THESISWATCH_{field.upper()}: {message}") from None

"""Start-up options of a sandbox and the settings the operator API can change while it runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from sandbox.constants import TIERS
from sandbox.faults import FaultConfig
from sandbox.validation import ValidationRules

DEFAULT_TOKEN = "pat-na1-sandbox-token"  # noqa: S105 - a fixed local token, not a secret


@dataclass
class Settings:
    """Run-time behaviour, readable and writable through `/_sandbox/settings`."""

    index_lag_ms: int = 2_000
    throttle: bool = False
    tier: str = "professional"
    time_scale: float = 1.0
    daily_limit: int | None = None
    custom_objects: bool = True
    retry_after: bool = False
    latency_ms: int = 0  # mean added delay per API answer (log-normal, p99 about 4x); 0 is off
    # The scopes the token's app was granted; None grants every scope. A call needing one that is not granted answers
    # 403 MISSING_SCOPES naming it (sandbox.app.scopes_for says which scopes a call needs).
    granted_scopes: list[str] | None = None

    def update(self, changes: dict[str, Any]) -> None:
        """Apply known keys; ValueError naming the first unknown key or bad value."""
        names = {f.name: f for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown setting '{key}'")
            setattr(self, key, _coerce(key, value))
        if self.tier not in TIERS:
            raise ValueError(f"unknown tier '{self.tier}'; choose one of {sorted(TIERS)}")
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")

    def burst_limit(self) -> int:
        """Requests allowed per rolling 10 s window."""
        return TIERS[self.tier][0]

    def daily(self) -> int:
        """Requests allowed per day."""
        return self.daily_limit if self.daily_limit is not None else TIERS[self.tier][1]

    def to_json(self) -> dict[str, Any]:
        """All settings as JSON."""
        return asdict(self)


def _coerce(key: str, value: Any) -> Any:
    if key in ("throttle", "custom_objects", "retry_after"):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if key == "granted_scopes":
        if value is not None and (not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value)):
            raise ValueError("granted_scopes must be a list of scope names, or null for every scope")
        return None if value is None else list(value)
    if key == "tier":
        return str(value)
    if key == "time_scale":
        return float(value)
    if value is None and key == "daily_limit":
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer")
    return value


@dataclass
class SandboxOptions:
    """Everything needed to start a sandbox: portal generation, serving, auth, behaviour and faults."""

    seed: int = 42
    size: str = "small"
    contacts: int | None = None
    engagements: int | None = None
    anchor_ms: int | None = None
    host: str = "127.0.0.1"
    port: int = 0
    token: str = DEFAULT_TOKEN
    limited_token: str | None = None  # a token whose app lacks scopes: every call answers 403 MISSING_SCOPES
    data_dir: Path | None = None
    settings: Settings = field(default_factory=Settings)
    faults: FaultConfig = field(default_factory=FaultConfig)
    validation: ValidationRules = field(default_factory=ValidationRules)  # write rules of 2026-09 paths

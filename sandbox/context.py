"""What a request handler may use: the portal, options and settings, counters, limiter and fault injector.

Route modules receive a `Context` and never import `sandbox.app`, so imports flow one way: `app` imports the
route modules, and they import this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.config import SandboxOptions, Settings
from sandbox.errors import missing_scopes, validation
from sandbox.faults import FaultInjector
from sandbox.latency import Latency
from sandbox.limits import RateLimiter
from sandbox.objtypes import ObjectType
from sandbox.portal import Portal
from sandbox.stats import Stats
from sandbox.validation import ValidationRules


@dataclass
class Context:
    """The state shared by every handler of one sandbox."""

    portal: Portal
    options: SandboxOptions
    stats: Stats = field(default_factory=Stats)
    limiter: RateLimiter = field(init=False)
    faults: FaultInjector = field(init=False)
    validation: ValidationRules = field(init=False)  # replaced whole by the operator API
    latency: Latency = field(init=False)

    def __post_init__(self) -> None:
        self.portal.index_lag_ms = self.settings.index_lag_ms
        self.limiter = RateLimiter(self.settings)
        self.faults = FaultInjector(self.options.faults)
        self.validation = self.options.validation
        self.latency = Latency(self.options.faults.seed)

    @property
    def settings(self) -> Settings:
        """The run-time settings (changed in place by the operator API)."""
        return self.options.settings

    def object_type(self, name: str) -> ObjectType:
        """Resolve a path's object type: 403 for custom objects when they are disabled, 400 when unknown."""
        ot = self.portal.resolve(name)
        if ot is not None and not ot.custom:
            return ot
        if not self.settings.custom_objects:
            raise missing_scopes("crm.objects.custom.read")
        if ot is None:
            raise validation(f"Unable to infer object type from: {name}")
        return ot

    def partial_failures(self, n: int) -> set[int]:
        """Batch-write inputs that an injected partial failure makes fail."""
        failing = self.faults.partial_failures(n)
        if failing:
            self.stats.fault("partial")
        return failing

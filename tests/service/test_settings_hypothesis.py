"""Bad configuration is refused at start-up with one line naming the variable; good configuration works.

Values are given as the environment gives them, as text. The ranges below are the contract of README's
configuration table: a value outside them is refused by `load_settings` (ConfigError, one line, starting with the
variable's name); a value inside them is accepted as that number and can be used by the code that reads it.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_origin

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from urllib3 import Timeout

from service.settings import Settings, load_settings
from sync.config import WriteConfig
from sync.errors import ConfigError


@dataclass(frozen=True)
class Number:
    """A numeric setting: whole or not, and its range (None: unbounded; `*_open`: the bound itself is refused)."""

    name: str
    whole: bool
    low: float
    low_open: bool
    high: float | None = None
    high_open: bool = False

    def admits(self, value: float) -> bool:
        """Whether `value` is within the range."""
        above = value > self.low if self.low_open else value >= self.low
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below


NUMBERS = (
    Number("HUBSPOT_TIMEOUT_SECONDS", whole=False, low=0, low_open=True, high=600),
    Number("HUBSPOT_RATE_LIMIT_PER_10S", whole=True, low=0, low_open=True, high=250),
    Number("HUBSPOT_SEARCH_PER_SECOND", whole=True, low=0, low_open=True, high=10),
    Number("HUBSPOT_DAILY_BUDGET", whole=True, low=0, low_open=True),
    Number("HUBSPOT_MAX_RETRIES", whole=True, low=0, low_open=False, high=30),
    Number("HUBSPOT_MAX_IN_FLIGHT", whole=True, low=1, low_open=False, high=16),
    Number("SYNC_OVERLAP_SECONDS", whole=True, low=0, low_open=False, high=86_400),
    Number("SYNC_WINDOW_HOURS", whole=True, low=0, low_open=True),
    Number("SYNC_LIST_RANGE_SIZE", whole=True, low=0, low_open=False),
    Number("SYNC_INTERVAL_MINUTES", whole=False, low=0, low_open=True, high=10_080),
    Number("KPI_STALE_AFTER_DAYS", whole=True, low=0, low_open=True, high=3_650),
    Number("KPI_MIN_ATTEMPTS", whole=True, low=0, low_open=True, high=1_000),
    Number("WRITEBACK_REFUSED_RETRY_HOURS", whole=False, low=0, low_open=False, high=8_760),
    Number("ADMIN_PORT", whole=True, low=0, low_open=True, high=65_536, high_open=True),
)
CHOICES = {"LOG_LEVEL": ("debug", "info", "warning", "error"), "LOG_FORMAT": ("auto", "json", "console")}
FLAGS = ("WRITEBACK_ENABLED", "WRITEBACK_SNAPSHOTS", "HUBSPOT_ALLOW_INSECURE_URL")
# The words a flag takes, in any case (pydantic's booleans).
FLAG_WORDS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False, "1": True, "0": False}
FLAG_WORDS |= {"t": True, "f": False, "y": True, "n": False}


def test_every_numeric_and_enumerated_setting_is_specified_here() -> None:
    """The tables above cover every number, choice and flag Settings has (a new one must be added to them)."""
    specified = {n.name for n in NUMBERS} | set(CHOICES) | set(FLAGS)
    found = {
        name.upper()
        for name, field in Settings.model_fields.items()
        if field.annotation in (int, float, bool) or get_origin(field.annotation) is Literal
    }
    assert specified == found


def refusal(**overrides: object) -> str:
    """The ConfigError message load_settings gives for these values (failing the test if it accepts them)."""
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    return str(caught.value)


def refused(name: str, value: object) -> str:
    """The ConfigError message load_settings gives for `name`=`value`."""
    return refusal(**{name.lower(): value})


def assert_one_line_naming(message: str, name: str) -> None:
    """A message an operator can act on: one line that starts with the variable's name."""
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{name}: ")
    assert len(message) > len(name) + 2


# -- numbers -------------------------------------------------------------------------------------------------------


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else repr(float(value))


def outside(spec: Number) -> st.SearchStrategy[float]:
    """Numbers outside a setting's range: below (or at an open) low bound, above (or at an open) high bound."""
    parts: list[st.SearchStrategy[float]] = [st.integers(-(10**12), int(spec.low) - (0 if spec.low_open else 1))]
    if not spec.whole:
        parts.append(st.floats(-1e300, spec.low, exclude_max=not spec.low_open))
    if spec.high is not None:
        parts.append(st.integers(int(spec.high) + (0 if spec.high_open else 1), 10**15))
        if not spec.whole:
            parts.append(st.floats(spec.high, 1e300, exclude_min=not spec.high_open))
    return st.one_of(parts)


out_of_range = st.sampled_from(NUMBERS).flatmap(lambda spec: st.tuples(st.just(spec), outside(spec).map(_text)))


@settings(max_examples=100)
@given(out_of_range)
def test_a_number_out_of_range_is_refused_with_one_line_naming_it(case: tuple[Number, str]) -> None:
    """Below the lowest or above the highest allowed value, a number stops start-up with one line naming it."""
    spec, value = case
    assert_one_line_naming(refused(spec.name, value), spec.name)


not_numbers = st.one_of(
    st.text(alphabet=st.characters(categories=["L", "P", "S", "Zs"]), min_size=1),
    st.sampled_from(["", " ", "1,5", "10%", "five", "0x10", "1e", "--1", "1.2.3", "٥", "½", "inf", "-inf", "nan"]),
)


@st.composite
def not_a_number(draw: st.DrawFn) -> tuple[Number, str]:
    """A numeric setting and text that is no number in its range: words, symbols, infinities, NaN, fractions."""
    spec = draw(st.sampled_from(NUMBERS))
    if spec.whole and draw(st.booleans()):
        return spec, f"{draw(st.integers(1, 1000))}.{draw(st.integers(1, 9))}"
    return spec, draw(not_numbers)


@settings(max_examples=100)
@given(not_a_number())
def test_text_that_is_no_number_in_range_is_refused_with_one_line_naming_it(case: tuple[Number, str]) -> None:
    """Words, NaN, infinities and, for whole numbers, fractions are refused; the message names the variable."""
    spec, value = case
    assert_one_line_naming(refused(spec.name, value), spec.name)


@st.composite
def in_range(draw: st.DrawFn) -> tuple[Number, float]:
    """A numeric setting and a number within its range (bounds included where allowed)."""
    spec = draw(st.sampled_from(NUMBERS))
    high = spec.high if spec.high is not None else 10**12
    if spec.whole:
        low = int(spec.low) + (1 if spec.low_open else 0)
        value: float = draw(st.integers(low, int(high) - (1 if spec.high_open else 0)))
    else:
        value = draw(st.floats(spec.low, high, exclude_min=spec.low_open, exclude_max=spec.high_open))
    return spec, value


@settings(max_examples=100)
@given(in_range(), st.booleans())
def test_a_number_in_range_is_accepted_as_that_number(case: tuple[Number, float], as_text: bool) -> None:
    """Within its range a number is accepted, from text (as in the environment) or as a number, unchanged."""
    spec, value = case
    assert spec.admits(value)
    loaded = load_settings(**{spec.name.lower(): _text(value) if as_text else value})
    assert getattr(loaded, spec.name.lower()) == value


@settings(max_examples=60)
@given(in_range())
def test_an_accepted_duration_can_be_scheduled_and_waited(case: tuple[Number, float]) -> None:
    """Whatever duration start-up accepts, the scheduler, timeouts and KPI rules can use it."""
    spec, value = case
    loaded = load_settings(**{spec.name.lower(): value})
    trigger = IntervalTrigger(seconds=loaded.sync_interval_minutes * 60, timezone=UTC)  # as the worker does
    assert trigger.get_next_fire_time(None, datetime.now(UTC)) is not None
    assert Timeout(connect=5, read=loaded.hubspot_timeout_seconds).read_timeout == loaded.hubspot_timeout_seconds
    assert loaded.kpi_config().stale_after_ms > 0
    assert WriteConfig(refused_retry_hours=loaded.writeback_refused_retry_hours).refused_retry_ms >= 0


# -- choices, flags, time zones and lists ------------------------------------------------------------------------


def allowed(name: str, value: str) -> bool:
    """Whether a choice or flag takes `value`: exactly one of a choice's words; a flag word in any case."""
    return value in CHOICES[name] if name in CHOICES else value.lower() in FLAG_WORDS


@st.composite
def bad_choice(draw: st.DrawFn) -> tuple[str, str]:
    """An enumerated setting or flag and text that is none of its values."""
    name = draw(st.sampled_from([*CHOICES, *FLAGS]))
    value = draw(st.one_of(st.text(), st.sampled_from(["INFO", " info", "Debug", "verbose", " true", "2", "enabled"])))
    assume(not allowed(name, value))
    return name, value


@settings(max_examples=60)
@given(bad_choice())
def test_a_value_outside_a_choice_is_refused_with_one_line_naming_it(case: tuple[str, str]) -> None:
    """Log level and format take their exact words, flags true/false words only; anything else stops start-up."""
    name, value = case
    assert_one_line_naming(refused(name, value), name)


@settings(max_examples=40)
@given(st.sampled_from([*CHOICES, *FLAGS]).flatmap(lambda n: st.tuples(st.just(n), st.sampled_from(_words(n)))))
def test_every_allowed_word_is_accepted(case: tuple[str, str]) -> None:
    """Each allowed word of a choice, and each flag word in any case, is accepted as what it means."""
    name, value = case
    got = getattr(load_settings(**{name.lower(): value}), name.lower())
    assert got == (FLAG_WORDS[value.lower()] if name in FLAGS else value)


def _words(name: str) -> list[str]:
    if name in CHOICES:
        return list(CHOICES[name])
    return [w for word in FLAG_WORDS for w in (word, word.upper(), word.capitalize())]


ZONES = sorted(zoneinfo.available_timezones())


@settings(max_examples=60)
@given(st.sampled_from(ZONES))
def test_every_known_time_zone_is_accepted_and_usable(zone: str) -> None:
    """Any IANA zone name is accepted, and the KPI rules can bucket days and months in it."""
    assert load_settings(kpi_timezone=zone).kpi_config().calendar.period(0) in ("1969-12", "1970-01")


@settings(max_examples=50)
@given(
    st.one_of(
        st.text(min_size=1).filter(lambda s: re.search(r"[^\w+\-/]", s)), st.sampled_from(["utc", "Mars/Olympus"])
    )
)
def test_an_unknown_time_zone_is_refused_with_one_line_naming_it(zone: str) -> None:
    """A name that is no time zone (wrong case, spaces, paths, symbols) stops start-up with one line."""
    assert_one_line_naming(refused("KPI_TIMEZONE", zone), "KPI_TIMEZONE")


comma_lists = st.lists(st.text(alphabet=st.characters(exclude_characters=","), max_size=12), max_size=4).map(",".join)


@settings(max_examples=60)
@given(comma_lists, comma_lists, st.sampled_from(["", "(^|/)guides?(/|$)", r"\.pdf$"]))
def test_accepted_kpi_settings_always_make_a_kpi_configuration(dispositions: str, roles: str, pattern: str) -> None:
    """What start-up accepts for the KPI rules, the rules accept too: a cycle never fails later on configuration.

    Start-up refuses a list without any call outcome and an empty content pattern, which the rules cannot use.
    """
    overrides = {
        "kpi_connected_dispositions": dispositions,
        "kpi_decision_maker_roles": roles,
        "kpi_content_path_pattern": pattern,
    }
    if not any(part.strip() for part in dispositions.split(",")):
        assert_one_line_naming(refusal(**overrides), "KPI_CONNECTED_DISPOSITIONS")
        return
    if not pattern:
        assert_one_line_naming(refusal(**overrides), "KPI_CONTENT_PATH_PATTERN")
        return
    loaded = load_settings(**overrides)
    config = loaded.kpi_config()
    assert config.connected_dispositions == frozenset(loaded.kpi_connected_dispositions)
    assert config.decision_maker_roles == frozenset(loaded.kpi_decision_maker_roles)
    assert config.content_path_pattern == pattern


# -- regressions: values start-up used to accept and a later step choked on ---------------------------------------


@pytest.mark.parametrize("value", ["inf", "1e300", "10081"])
def test_an_interval_the_scheduler_cannot_hold_is_refused(value: str) -> None:
    """SYNC_INTERVAL_MINUTES of infinity or more than a week was accepted, then crashed the worker's scheduler."""
    assert_one_line_naming(refused("SYNC_INTERVAL_MINUTES", value), "SYNC_INTERVAL_MINUTES")


@pytest.mark.parametrize(("name", "value"), [("KPI_CONNECTED_DISPOSITIONS", " , "), ("KPI_CONTENT_PATH_PATTERN", "")])
def test_kpi_settings_the_rules_refuse_are_refused_at_start_up(name: str, value: str) -> None:
    """No connected outcome, or an empty content pattern, was accepted and then failed every cycle's recompute."""
    assert_one_line_naming(refused(name, value), name)

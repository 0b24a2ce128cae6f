"""The lock files are the exact, hash-checked dependency sets that `./dev` (CI) and the image install: they must
cover every dependency pyproject.toml names, at a version its range admits, so a pyproject change without
`./dev lock` fails here rather than in production."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
# One entry: the pin line, its continuation lines (markers, hashes) and `# via` comments, up to the next pin.
ENTRY = re.compile(r"^[A-Za-z0-9].*?(?=^[A-Za-z0-9]|\Z)", re.MULTILINE | re.DOTALL)


def pins(lock: Path) -> dict[str, list[Version]]:
    """Package name (canonical) -> the exact versions the lock installs (two when it forks by Python version)."""
    found: dict[str, list[Version]] = {}
    for name, version in PIN.findall(lock.read_text()):
        found.setdefault(canonicalize_name(name), []).append(Version(version))
    return found


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(text) for text in project["dependencies"]]
    for extra in extras:
        found += [Requirement(text) for text in project["optional-dependencies"][extra]]
    return found


def extra_requirements(requirement: Requirement) -> list[Requirement]:
    """What the extras in `psycopg[binary]` add, read from the installed distribution's metadata."""
    try:
        listed = requires(requirement.name) or []
    except PackageNotFoundError:
        return []
    added = []
    for text in listed:
        sub = Requirement(text)
        marker = sub.marker
        if marker is not None and any(marker.evaluate({"extra": e}) for e in requirement.extras):
            added += [sub] if not marker.evaluate({"extra": ""}) else []
    return added


def unlocked(requirements: list[Requirement], locked: dict[str, list[Version]]) -> list[str]:
    """Each requirement (and what its extras add) that the lock misses, or pins outside the declared range."""
    problems = []
    for requirement in requirements + [s for r in requirements for s in extra_requirements(r)]:
        versions = locked.get(canonicalize_name(requirement.name))
        if versions is None:
            problems.append(f"{requirement}: not in the lock")
        problems += [
            f"{requirement}: the lock has {v}"
            for v in versions or []
            if not requirement.specifier.contains(v, prereleases=True)
        ]
    return problems


LOCKS = [
    pytest.param(RUNTIME_LOCK, (), id="requirements.lock"),
    pytest.param(DEV_LOCK, ("dev",), id="requirements-dev.lock"),
]


@pytest.mark.parametrize(("lock", "extras"), LOCKS)
def test_the_lock_pins_every_declared_dependency_within_its_range(lock: Path, extras: tuple[str, ...]) -> None:
    """Every dependency of pyproject.toml (the dev extra too, for the dev lock) is pinned, at an admitted version."""
    assert unlocked(declared(*extras), pins(lock)) == []


def test_a_range_the_lock_does_not_meet_is_caught() -> None:
    """The check is not vacuous: a raised floor, or a new dependency, is reported against the current lock."""
    locked = pins(RUNTIME_LOCK)
    (fastapi,) = locked["fastapi"]
    raised = [Requirement(f"fastapi>{fastapi}"), Requirement("a-package-nobody-locked>=1")]
    assert unlocked(raised, locked) == [
        f"fastapi>{fastapi}: the lock has {fastapi}",
        "a-package-nobody-locked>=1: not in the lock",
    ]


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_pin_carries_hashes(lock: Path) -> None:
    """pip installs the locks with --require-hashes: every entry has at least one sha256."""
    entries = ENTRY.findall(lock.read_text())
    assert len(entries) == len(PIN.findall(lock.read_text())) > 0
    assert [e.splitlines()[0] for e in entries if "--hash=sha256:" not in e] == []


def test_the_image_and_ci_install_the_same_versions() -> None:
    """The runtime lock is the dev lock's runtime part: what CI tests is what the image ships."""
    dev = pins(DEV_LOCK)
    assert {
        name: (version, dev.get(name)) for name, version in pins(RUNTIME_LOCK).items() if dev.get(name) != version
    } == {}


def test_the_locks_target_the_python_the_project_runs_on() -> None:
    """Both locks were resolved for Python 3.11 (the image's and CI's), on every platform (`--universal`)."""
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        command = lock.read_text().splitlines()[1]
        assert "--python-version 3.11" in command
        assert "--universal" in command
        assert "--generate-hashes" in command

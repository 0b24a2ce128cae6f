"""`kpi-sync doctor` and `GET /doctor`: each failure injected against the sandbox (or a real socket, or the machine's
PostgreSQL) gives its own checklist line with a fix, and the exit code says whether the first cycle can run."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import urllib3
from click.testing import CliRunner, Result

from sandbox.constants import READ_SCOPES
from sandbox.harness import RunningSandbox, run_sandbox
from service.admin.api import create_app
from service.cli import main
from service.doctor import DoctorReport
from service.settings import load_settings
from storage.engine import make_engine
from sync.properties import CONTACT_PROPERTIES, PROPERTY_GROUP_DEF
from tests.helpers import ADMIN_TOKEN, PG_ADMIN, PG_OK, free_port, serving

PASSWORD = "s3cret-db-pw"  # a made-up password that must never be printed


@pytest.fixture(scope="module")
def portal() -> Iterator[RunningSandbox]:
    """A sandbox the tests only read from (each mutating test starts its own)."""
    with run_sandbox(seed=5, contacts=20, engagements=40, index_lag_ms=0) as sb:
        yield sb


@pytest.fixture
def fresh() -> Iterator[RunningSandbox]:
    """A sandbox of this test's own, to change its scopes, faults or properties."""
    with run_sandbox(seed=6, contacts=10, engagements=20, index_lag_ms=0) as sb:
        yield sb


def doctor(sb: RunningSandbox | None, tmp_path: Path, *args: str, **env: str | None) -> Result:
    """Run `kpi-sync doctor` as a user would, against `sb` and a new SQLite store in `tmp_path`."""
    base = {
        "HUBSPOT_ACCESS_TOKEN": sb.token if sb else "pat-na1-doctor-test",
        "HUBSPOT_BASE_URL": sb.base_url if sb else f"http://127.0.0.1:{free_port()}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "LOG_FORMAT": "json",
    }
    return CliRunner().invoke(main, ["doctor", *args], env=base | env)


def line(result: Result, name: str) -> str:
    """The checklist line of one check (its fix, if any, on the next line)."""
    lines = result.stdout.splitlines()
    for i, text in enumerate(lines):
        if text[8:].startswith(f"{name}:"):
            following = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].strip().startswith("fix:") else ""
            return f"{text}\n{following}".strip()
    raise AssertionError(f"no line for {name!r} in:\n{result.stdout}")


def post(sb: RunningSandbox, path: str, body: dict[str, Any]) -> int:
    """A HubSpot API call to the sandbox, as a portal admin would make it in HubSpot's UI."""
    headers = {"Authorization": f"Bearer {sb.token}", "Content-Type": "application/json"}
    with urllib3.PoolManager() as http:
        return http.request("POST", sb.base_url + path, body=orjson.dumps(body), headers=headers).status


# -- all good --------------------------------------------------------------------------------------------------
def test_a_ready_portal_passes_in_a_few_calls(fresh: RunningSandbox, tmp_path: Path) -> None:
    """Every check passes (or informs) and the doctor exits 0, having spent at most 12 calls of the portal's."""
    result = doctor(fresh, tmp_path)
    assert result.exit_code == 0, result.stdout
    assert fresh.stats()["total"] <= 12
    assert {text.split()[0] for text in result.stdout.splitlines()[:-1]} <= {"ok", "info"}


def test_it_writes_nothing_anywhere(fresh: RunningSandbox, tmp_path: Path) -> None:
    """HubSpot sees only reads and no store file is created."""
    doctor(fresh, tmp_path)
    routes = fresh.stats()["by_route"]
    assert all(route.startswith("GET ") for route in routes), routes
    assert not (tmp_path / "store.db").exists()


def test_json_format_parses_into_the_report(portal: RunningSandbox, tmp_path: Path) -> None:
    """`--format json` prints the report's JSON: ok, the call count and every check with status, detail and fix."""
    result = doctor(portal, tmp_path, "--format", "json")
    data = orjson.loads(result.stdout)
    assert data["ok"] is True
    assert DoctorReport.from_dict(data).as_dict() == data
    assert {"HubSpot URL", "Service Key", "database"} <= {c["name"] for c in data["checks"]}


def test_rate_limits_are_the_portals_headers(portal: RunningSandbox, tmp_path: Path) -> None:
    """The rate-limit line gives X-HubSpot-RateLimit-Max and the daily calls left, as the sandbox sent them."""
    found = line(doctor(portal, tmp_path), "rate limits")
    assert found.startswith("info")
    assert "190 calls per 10 s" in found
    assert "of 650,000 daily calls left" in found


def test_properties_kpi_sync_created_are_present(fresh: RunningSandbox, tmp_path: Path) -> None:
    """With the group and the twelve properties as kpi-sync defines them, both lines are ok."""
    assert post(fresh, "/crm/properties/2026-09/contacts/groups", dict(PROPERTY_GROUP_DEF)) == 201
    for definition in CONTACT_PROPERTIES:
        assert post(fresh, "/crm/properties/2026-09/contacts", definition) == 201
    result = doctor(fresh, tmp_path)
    assert line(result, "property group sales_kpis").startswith("ok")
    assert line(result, "kpi_* properties").startswith("ok      kpi_* properties: 12 of 12 present")


def test_missing_properties_are_information_not_a_failure(portal: RunningSandbox, tmp_path: Path) -> None:
    """Missing kpi_* properties are created by the first write-back: an info line naming them, exit 0."""
    result = doctor(portal, tmp_path)
    assert line(result, "kpi_* properties").startswith("info")
    assert "kpi_outbound_calls" in line(result, "kpi_* properties")
    assert result.exit_code == 0


def test_write_scopes_are_named_not_claimed(portal: RunningSandbox, tmp_path: Path) -> None:
    """The write scopes are reported as not verified, never as ok."""
    found = line(doctor(portal, tmp_path), "write scopes")
    assert found.startswith("info")
    assert "not verified" in found
    assert "crm.objects.contacts.write" in found


def test_a_portal_without_custom_objects_is_information(fresh: RunningSandbox, tmp_path: Path) -> None:
    """Without custom objects the snapshots are off: an info line, and the doctor still exits 0."""
    fresh.settings(custom_objects=False)
    result = doctor(fresh, tmp_path)
    assert line(result, "custom objects").startswith("info    custom objects: not available")
    assert result.exit_code == 0


# -- the base URL ----------------------------------------------------------------------------------------------
def test_an_unresolvable_host_is_named_dns(tmp_path: Path) -> None:
    """A host name that does not resolve is a DNS failure, with the URL; every later HubSpot check is skipped."""
    result = doctor(None, tmp_path, HUBSPOT_BASE_URL="https://nonexistent.invalid")
    found = line(result, "HubSpot URL")
    assert found.startswith("FAIL")
    assert "https://nonexistent.invalid does not resolve (DNS)" in found
    assert "fix: check HUBSPOT_BASE_URL" in found
    assert line(result, "Service Key").startswith("skipped Service Key: no connection to HubSpot")
    assert result.exit_code == 1


def test_a_closed_port_is_named_refused(tmp_path: Path) -> None:
    """Nobody listens on the port: 'refused the connection', with the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    result = doctor(None, tmp_path, HUBSPOT_BASE_URL=url)
    assert f"FAIL    HubSpot URL: {url} refused the connection" in line(result, "HubSpot URL")
    assert result.exit_code == 1


def test_https_to_a_plain_http_server_is_named_tls(portal: RunningSandbox, tmp_path: Path) -> None:
    """https:// in front of the plain-HTTP sandbox: the TLS handshake fails and says so, with the URL."""
    url = portal.base_url.replace("http://", "https://")
    result = doctor(portal, tmp_path, HUBSPOT_BASE_URL=url)
    assert f"FAIL    HubSpot URL: the TLS handshake with {url} failed" in line(result, "HubSpot URL")
    assert result.exit_code == 1


def test_a_late_answer_is_named_timeout_after_one_attempt(fresh: RunningSandbox, tmp_path: Path) -> None:
    """The sandbox answers 3 s late: with `--timeout 0.5` the doctor names the timeout after one call, no retry."""
    fresh.set_faults(rate_slow=1.0, slow_ms=3_000)
    started = time.monotonic()
    result = doctor(fresh, tmp_path, "--timeout", "0.5")
    assert time.monotonic() - started < 2.5
    assert f"FAIL    HubSpot URL: {fresh.base_url} did not answer within 0.5 s" in line(result, "HubSpot URL")
    assert fresh.stats()["total"] == 1
    assert result.exit_code == 1


def test_a_url_that_is_not_the_api_fails_the_api_version(portal: RunningSandbox, tmp_path: Path) -> None:
    """A base URL that answers 404 on the date-versioned paths fails the API version check, naming the version."""
    result = doctor(portal, tmp_path, HUBSPOT_BASE_URL=f"{portal.base_url}/not-the-api")
    found = line(result, "API version")
    assert found.startswith("FAIL    API version: the 2026-09 paths answered 404")
    assert "fix: check HUBSPOT_BASE_URL" in found
    assert result.exit_code == 1


def test_a_server_error_is_a_failure_not_a_pass(fresh: RunningSandbox, tmp_path: Path) -> None:
    """HubSpot answering 5xx to the first check fails it (exit 1) after one call, and says to try again later."""
    fresh.set_faults(rate_5xx=1.0)
    result = doctor(fresh, tmp_path)
    assert line(result, "Service Key").startswith("FAIL    Service Key: HubSpot did not answer the check")
    assert fresh.stats()["total"] == 1
    assert result.exit_code == 1


# -- the key and its scopes -----------------------------------------------------------------------------------
def test_a_rejected_key_is_named_and_the_scopes_skipped(portal: RunningSandbox, tmp_path: Path) -> None:
    """A 401 reads 'HubSpot rejected the Service Key', and no scope is reported as checked."""
    result = doctor(portal, tmp_path, HUBSPOT_ACCESS_TOKEN="pat-na1-wrong-key")
    found = line(result, "Service Key")
    assert found.startswith("FAIL    Service Key: HubSpot rejected the Service Key (401 INVALID_AUTHENTICATION)")
    assert "fix: copy the key again" in found
    assert line(result, "scope: contacts read").startswith("skipped")
    assert result.exit_code == 1


def test_a_missing_key_is_a_failed_check_not_a_crash(tmp_path: Path) -> None:
    """Without HUBSPOT_ACCESS_TOKEN the checklist says so and still checks the database."""
    result = doctor(None, tmp_path, HUBSPOT_ACCESS_TOKEN=None)
    assert line(result, "Service Key").startswith("FAIL    Service Key: HUBSPOT_ACCESS_TOKEN is not set")
    assert line(result, "database").startswith("ok")
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("withheld", "failing"),
    [
        ("crm.objects.contacts.read", {"scope: contacts read", "scope: emails read"}),  # engagements ride on it
        ("sales-email-read", {"scope: emails read"}),
        ("crm.objects.deals.read", {"scope: deals read"}),
        ("crm.objects.owners.read", {"scope: owners read"}),
        ("crm.schemas.contacts.read", {"scope: property schema read"}),
    ],
)
def test_a_withheld_scope_is_named_by_the_check_that_needs_it(
    fresh: RunningSandbox, tmp_path: Path, withheld: str, failing: set[str]
) -> None:
    """A key without one scope fails exactly the checks whose calls need it, each naming the scope."""
    fresh.settings(granted_scopes=[s for s in READ_SCOPES if s != withheld])
    result = doctor(fresh, tmp_path, "--format", "json")
    failed = {c["name"]: c for c in orjson.loads(result.stdout)["checks"] if c["status"] == "fail"}
    assert set(failed) == failing
    assert all(withheld in c["detail"] and withheld in c["fix"] for c in failed.values())
    assert result.exit_code == 1


def test_a_missing_scope_prints_the_scope_and_its_fix(fresh: RunningSandbox, tmp_path: Path) -> None:
    """The text line names the missing scope and the fix says where to add it."""
    fresh.settings(granted_scopes=[s for s in READ_SCOPES if s != "crm.objects.owners.read"])
    found = line(doctor(fresh, tmp_path), "scope: owners read")
    assert found.startswith("FAIL    scope: owners read: the Service Key lacks crm.objects.owners.read")
    assert "fix: add the scope crm.objects.owners.read to the key in HubSpot > Settings" in found


# -- properties ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "finding"),
    [
        ({"type": "string", "fieldType": "text"}, "type 'string', kpi-sync needs 'number'"),
        ({"groupName": "other_team"}, "group 'other_team', kpi-sync needs 'sales_kpis'"),
    ],
)
def test_a_foreign_kpi_property_is_a_conflict(
    fresh: RunningSandbox, tmp_path: Path, changes: dict[str, str], finding: str
) -> None:
    """A kpi_* property someone else made, of another type or group, fails with 'rename or delete' and exit 1."""
    for group in (dict(PROPERTY_GROUP_DEF), {"name": "other_team", "label": "Another team's"}):
        assert post(fresh, "/crm/properties/2026-09/contacts/groups", group) == 201
    ours = next(p for p in CONTACT_PROPERTIES if p["name"] == "kpi_outbound_calls")
    assert post(fresh, "/crm/properties/2026-09/contacts", ours | changes) == 201
    result = doctor(fresh, tmp_path)
    found = line(result, "property kpi_outbound_calls")
    assert found.startswith("FAIL    property kpi_outbound_calls: exists with another definition")
    assert finding in found
    assert "fix: rename or delete the property kpi_outbound_calls" in found
    assert result.exit_code == 1


def test_other_enumeration_options_are_a_conflict(fresh: RunningSandbox, tmp_path: Path) -> None:
    """An enumeration kpi_* property with other option values is a conflict naming both sets."""
    assert post(fresh, "/crm/properties/2026-09/contacts/groups", dict(PROPERTY_GROUP_DEF)) == 201
    ours = next(p for p in CONTACT_PROPERTIES if p["type"] == "enumeration")
    options = [{"label": "Yes", "value": "yes", "displayOrder": 0}]
    assert post(fresh, "/crm/properties/2026-09/contacts", ours | {"options": options}) == 201
    found = line(doctor(fresh, tmp_path), f"property {ours['name']}")
    assert found.startswith("FAIL")
    assert "options ['yes'], kpi-sync needs" in found


# -- the database ----------------------------------------------------------------------------------------------
def test_an_unwritable_sqlite_path_is_named(portal: RunningSandbox, tmp_path: Path) -> None:
    """A SQLite path below a file cannot be created: the database check fails naming it, and nothing is made."""
    (tmp_path / "a-file").write_text("not a folder")
    result = doctor(portal, tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/a-file/store.db")
    found = line(result, "database")
    assert found.startswith("FAIL")
    assert f"{tmp_path}/a-file is not a folder" in found
    assert "fix: point DATABASE_URL at a place this user may write" in found
    assert result.exit_code == 1


def test_an_existing_store_reports_its_schema(portal: RunningSandbox, tmp_path: Path) -> None:
    """A migrated SQLite store is reachable, writable and up to date."""
    from storage.engine import open_store

    open_store(f"sqlite:///{tmp_path / 'store.db'}").dispose()
    assert "schema up to date" in line(doctor(portal, tmp_path), "database")


def pg_url(user: str, port: int, database: str) -> str:
    """A PostgreSQL URL on this machine's server (or a closed port) carrying PASSWORD."""
    return f"postgresql://{user}:{PASSWORD}@127.0.0.1:{port}/{database}"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "finding"),
    [
        pytest.param(lambda: pg_url("postgres", free_port(), "kpi"), "connection refused", id="refused"),
        pytest.param(lambda: pg_url("nobody_kpi_doctor", 5432, "postgres"), "refused user", id="auth"),
        pytest.param(lambda: pg_url("postgres", 5432, "kpi_doctor_none"), "does not exist", id="no-database"),
    ],
)
def test_a_postgres_failure_names_its_cause_without_the_password(
    portal: RunningSandbox, tmp_path: Path, url: Any, finding: str
) -> None:
    """Refused, a refused user and a missing database each read as such; the password appears nowhere."""
    if not PG_OK:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    result = doctor(portal, tmp_path, DATABASE_URL=url())
    found = line(result, "database")
    assert found.startswith("FAIL")
    assert finding in found
    assert ":***@" in found
    assert PASSWORD not in result.output
    assert result.exit_code == 1


@pytest.mark.postgres
def test_a_reachable_postgres_passes(portal: RunningSandbox, tmp_path: Path) -> None:
    """The machine's PostgreSQL as superuser: reachable, no schema yet."""
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    found = line(doctor(portal, tmp_path, DATABASE_URL=PG_ADMIN), "database")
    assert found.startswith("ok")


# -- the admin API and page ------------------------------------------------------------------------------------
@contextmanager
def admin_client(sb: RunningSandbox, tmp_path: Path) -> Iterator[httpx.Client]:
    """The admin app over a fresh store, with settings pointing at `sb`, on a real server."""
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    settings = load_settings(
        hubspot_access_token=sb.token,
        hubspot_base_url=sb.base_url,
        database_url=url,
        kpi_sync_admin_token=ADMIN_TOKEN,
    )
    with serving(create_app(make_engine(url), settings)) as http:
        yield http


def test_get_doctor_needs_the_admin_token(portal: RunningSandbox, tmp_path: Path) -> None:
    """Without the admin token /doctor answers 401 and checks nothing."""
    before = portal.stats()["total"]
    with admin_client(portal, tmp_path) as http:
        assert http.get("/doctor").status_code == 401
    assert portal.stats()["total"] == before


def test_get_doctor_answers_the_report(portal: RunningSandbox, tmp_path: Path) -> None:
    """With the token /doctor answers the report's JSON, as `--format json` prints it."""
    with admin_client(portal, tmp_path) as http:
        answer = http.get("/doctor", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 200
    assert answer.json()["ok"] is True
    assert DoctorReport.from_dict(answer.json()).as_dict() == answer.json()


def test_the_page_checklist_shows_failures_with_their_fix(fresh: RunningSandbox, tmp_path: Path) -> None:
    """The page's checklist (/ui/doctor) marks a failure FAIL and prints its fix, escaped."""
    fresh.settings(granted_scopes=[s for s in READ_SCOPES if s != "crm.objects.deals.read"])
    with admin_client(fresh, tmp_path) as http:
        html = http.get("/ui/doctor", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
    assert '<tr data-check="scope: deals read"><td class="failed">FAIL</td>' in html
    assert "fix: add the scope crm.objects.deals.read" in html
    assert "&gt; Settings" in html

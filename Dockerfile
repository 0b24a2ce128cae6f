# kpi-sync: the worker (`kpi-sync run`) with its admin API on port 8080.
# Build: docker build -t kpi-sync .    Run: docker compose up (see docker-compose.yml and docs/service.md).
# No secret is baked in: HUBSPOT_ACCESS_TOKEN and KPI_SYNC_ADMIN_TOKEN come from the environment at run time.
# tests/service/test_container.py lints this file and replays the builder's RUN steps in a fresh virtualenv.
# Dependencies come from requirements.lock (exact versions, hashes checked; refreshed with `./dev lock`). The
# runtime needs neither pip nor setuptools: both are removed from the virtualenv (Python 3.11's venv seeds
# setuptools 65.5, which has known CVEs) and from the base image's own Python.

FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY sync ./sync
COPY service ./service
COPY kpi ./kpi
COPY storage ./storage
COPY sandbox ./sandbox
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps . \
 && /opt/venv/bin/python -m pip uninstall --yes pip setuptools \
 && /opt/venv/bin/kpi-sync --help > /dev/null

FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ADMIN_HOST=0.0.0.0 \
    ADMIN_PORT=8080 \
    DATABASE_URL=sqlite:////data/kpi-sync.db
RUN python -m pip uninstall --yes pip setuptools wheel \
 && groupadd --system --gid 10001 kpisync \
 && useradd --system --no-log-init --uid 10001 --gid 10001 --create-home --home-dir /home/kpisync kpisync \
 && mkdir /data \
 && chown 10001:10001 /data
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/kpisync
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["kpi-sync", "check"]
CMD ["kpi-sync", "run"]

# One image for the three services: `actiepunten serve <scenario|dossiercontrole|portal>`.
# Installs from uv.lock, as `make venv` does, so the image and a fresh clone get the same versions.
# Static checks only on our machines (no Docker engine): hadolint in `make lint`,
# tests/unit/test_deploy_files.py for what hadolint does not know about this project.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The venv lives at the path it has in the final image: its scripts name their interpreter.
ENV UV_PROJECT_ENVIRONMENT=/opt/actiepunten/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# psycopg's C extension (extra pg-c) is compiled here against Debian's libpq: a third to half of
# the services' CPU on PostgreSQL was psycopg's pure-Python layer. The compiler stays in this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
# The uv version pinned in pyproject.toml ([tool.uv] required-version, dev group).
RUN pip install --no-cache-dir uv==0.13.8
# Dependencies first, so this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --extra pg-c --no-install-project --no-editable
COPY shared ./shared
COPY servicekit ./servicekit
COPY services ./services
COPY actiepunten ./actiepunten
RUN uv sync --locked --no-dev --extra pg-c --no-editable

FROM ${PYTHON_IMAGE}
# psycopg and its C extension need libpq at run time; Debian's keeps its security updates, so the
# version is the distribution's rather than pinned here (the build stage compiled against it).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 actiepunten \
    && useradd --system --uid 10001 --gid actiepunten --no-create-home \
        --home-dir /var/lib/actiepunten --shell /usr/sbin/nologin actiepunten \
    && mkdir -p /var/lib/actiepunten \
    && chown actiepunten:actiepunten /var/lib/actiepunten
COPY --from=build /opt/actiepunten/.venv /opt/actiepunten/.venv
# ACTIEPUNTEN_DATA_DIR holds uploaded files (dossiercontrole) and, on SQLite, the stores: mount
# a volume there; the root filesystem can be read-only (then mount one on /tmp too, where large
# uploads are spooled while they arrive).
ENV PATH=/opt/actiepunten/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ACTIEPUNTEN_DATA_DIR=/var/lib/actiepunten \
    ACTIEPUNTEN_HOST=0.0.0.0
WORKDIR /var/lib/actiepunten
USER 10001:10001
EXPOSE 8001 8002 8003
# Exec form: the Python process is PID 1 and gets SIGTERM itself (uvicorn shuts down on it).
ENTRYPOINT ["/opt/actiepunten/.venv/bin/actiepunten"]
CMD ["serve", "scenario"]

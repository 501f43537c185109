# thesiswatch: a slim image running as a non-root user.
#
#   docker build -t thesiswatch .
#   docker run -d --name thesiswatch \
#     -v thesiswatch-data:/data \
#     -v "$PWD/rules:/config/rules:ro" -e THESISWATCH_RULES_DIR=/config/rules \
#     -v "$PWD/feeds.yaml:/config/feeds.yaml:ro" -e THESISWATCH_FEEDS=/config/feeds.yaml \
#     --env-file thesiswatch.env -p 127.0.0.1:8080:8080 thesiswatch
#
# Without the two mounts the rules and feeds shipped in the image are used. The SQLite
# database lives on the /data volume; set THESISWATCH_DATABASE_URL=postgresql://... to use
# PostgreSQL instead (see docker-compose.yml). /healthz and /metrics answer on port 8080.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv holding the pinned dependencies and the project wheel -----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/thesiswatch
# Dependencies first, from the lock alone: this layer survives edits to the code.
COPY requirements.lock ./
RUN /opt/thesiswatch/bin/pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot bot
COPY rules rules
COPY storage storage
# --no-deps: everything the wheel needs came from the lock, at the pinned versions.
RUN /opt/thesiswatch/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/thesiswatch/bin/pip install --no-cache-dir --no-deps /wheels/thesiswatch-*.whl \
    && /opt/thesiswatch/bin/pip check

# --- runtime: the virtualenv alone, no compilers, no build files ------------------------
FROM ${PYTHON_IMAGE}
RUN useradd --no-log-init --create-home --uid 10001 --user-group thesiswatch \
    && mkdir -p /data /config \
    && chown thesiswatch:thesiswatch /data
COPY --from=build /opt/thesiswatch /opt/thesiswatch
ENV PATH=/opt/thesiswatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    THESISWATCH_DATABASE_URL=sqlite:////data/thesiswatch.db \
    THESISWATCH_OPS_HOST=0.0.0.0 \
    THESISWATCH_OPS_PORT=8080
# Numeric, so runtimes that require a non-root UID (Kubernetes runAsNonRoot) can check it.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# No curl in slim images: Python's urllib, which fails on the 503 an unhealthy process answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('THESISWATCH_OPS_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["thesiswatch"]
CMD ["run"]

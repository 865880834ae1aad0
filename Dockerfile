# funchost image: funchost + the functions folder, served next to a daprd sidecar.
#
#   docker build -t task-agent:latest .
#   docker run --rm -p 8000:8000 task-agent:latest run /app/functions   # embedded sidecar, no daprd
#   (on Kubernetes the default command, `funchost serve /app/functions`, talks to the injected daprd)
#
# Function packages installed into the image (entry-point group "funchost") are discovered too.
# Add one in a derived image:
#
#   FROM task-agent:latest
#   USER root
#   RUN pip install --no-cache-dir my-funchost-plugin==1.2.0
#   USER 10001:10001
#
# The image runs as a non-root user and writes only under /tmp (mount an emptyDir there when the
# root filesystem is read-only, as the manifests in k8s/ do).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: resolve and install funchost and its runtime dependencies into a venv ----------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Optional dependency groups to install, comma separated. `otel` is in by default so the image
# can trace (FUNCHOST_TRACING=otlp or OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME); add
# e.g. "otel,redis", or pass "" for the smallest image.
ARG FUNCHOST_EXTRAS="otel"
WORKDIR /src
RUN python -m venv /opt/funchost
COPY pyproject.toml README.md ./
COPY funchost/ ./funchost/
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN target="."; \
    if [ -n "${FUNCHOST_EXTRAS}" ]; then target=".[${FUNCHOST_EXTRAS}]"; fi; \
    /opt/funchost/bin/pip install --no-cache-dir --no-compile "${target}" \
    && /opt/funchost/bin/python -m compileall -q /opt/funchost/lib

# ---- runtime: slim base, the venv, the functions, nothing else -------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/funchost/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    FUNCHOST_HOST=0.0.0.0 \
    FUNCHOST_APP_PORT=8000 \
    FUNCHOST_STATE_DIR=/tmp/funchost
RUN groupadd --system --gid 10001 funchost \
    && useradd --system --uid 10001 --gid funchost --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin funchost
COPY --from=builder /opt/funchost /opt/funchost
WORKDIR /app
COPY functions/ ./functions/
COPY notification-service/ ./notification-service/
COPY components/ ./components/
COPY bindings/ ./bindings/
RUN python -m compileall -q /app/functions /app/notification-service
# The working directory is writable (`funchost run` keeps .funchost/ there); /tmp is an emptyDir
# on Kubernetes, where the root filesystem is read-only.
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FUNCHOST_APP_PORT', '8000') + '/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["funchost"]
CMD ["serve", "/app/functions"]

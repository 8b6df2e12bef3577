FROM python:3.11-slim

# GRADSERVE_PORT is read by both the server and the HEALTHCHECK: set the port there
# (docker run -e GRADSERVE_PORT=9000 -p 9000:9000), not as a --port flag.
# Stopping: SIGTERM makes the server drain (not ready, no new connections, every accepted
# request answered) for at most GRADSERVE_SHUTDOWN_TIMEOUT seconds (8 by default), which
# fits docker stop's 10 s grace; raise both together (docker stop -t N / stop_grace_period).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADSERVE_PORT=8000 \
    GRADSERVE_SHUTDOWN_TIMEOUT=8

# Graphviz's dot lays out POST /render's SVG pictures (unpinned: Debian's stable point
# release is the pin)
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY service ./service
# The example model repository, served by default as `make serve` does (GET /models);
# mount another over /app/examples/models or override CMD to serve your own.
COPY examples/models ./examples/models
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 gradserve

USER 10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "service.healthcheck"]
CMD ["python", "-m", "service", "--host", "0.0.0.0", "--model-repository", "examples/models"]

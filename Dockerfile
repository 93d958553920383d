# Build: a static-ish release binary. Run: a slim Debian with only the binary and the tz database.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/nettraffic-sentinel

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends tzdata ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/nettraffic-sentinel /usr/local/bin/nettraffic-sentinel
ENV DB_PATH=/data/traffic.redb
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nettraffic-sentinel"]
CMD ["run"]

# One image for every Hookline service and the CLI. Build:
#   docker build -t hookline:local .
# The executor runs agents as child processes, so the runtime image carries
# git; add your agent CLI in an image of your own (`FROM hookline:local`).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/hookline hookline \
 && mkdir -p /work && chown hookline /work
COPY --from=build /src/target/release/hookline /usr/local/bin/hookline
COPY --from=build /src/target/release/hookline-ingest /usr/local/bin/hookline-ingest
COPY --from=build /src/target/release/hookline-admin /usr/local/bin/hookline-admin
COPY --from=build /src/target/release/hookline-router /usr/local/bin/hookline-router
COPY --from=build /src/target/release/hookline-executor /usr/local/bin/hookline-executor
COPY --from=build /src/target/release/hookline-notifier /usr/local/bin/hookline-notifier
COPY examples/demo-agent.sh /opt/hookline/demo-agent.sh
USER hookline
WORKDIR /home/hookline
ENV HOOKLINE_LOG_FORMAT=json
CMD ["hookline", "--help"]

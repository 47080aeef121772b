# ferry in a container: the host-built repo (tsc output + node_modules), run with plain node.
#   npm run build && docker build -t ferry:local .                     (official node image)
#   scripts/make-base-image.sh && docker build --build-arg BASE=ferry-base:local -t ferry:local .
# The build runs no npm install: node_modules are pure JS/wasm (no native addons), so the host's copy
# works in any image that has node 20, and the image builds without a registry when BASE is local.
ARG BASE=node:20-bookworm-slim
FROM ${BASE}

# tc (iproute2) lets the entrypoints emulate the WAN with netem. Official images lack it; installing it
# needs Debian's mirrors, so it is best effort: without tc the entrypoint falls back to ferry wan-proxy.
# The test is a path, not `command -v`: busybox's shell would answer with its own (reduced) tc applet.
RUN if [ ! -x /usr/sbin/tc ] && [ ! -x /sbin/tc ] && command -v apt-get >/dev/null; then \
      (apt-get update && apt-get install -y --no-install-recommends iproute2 && rm -rf /var/lib/apt/lists/*) \
        || echo "iproute2 not installed: the WAN falls back to ferry wan-proxy"; \
    fi

WORKDIR /opt/ferry
# .dockerignore keeps only package.json files, dist/, bin/, node_modules and docker/. Workspace links in
# node_modules/@ferry are relative symlinks, and COPY keeps symlinks, so they resolve inside the image.
COPY . /opt/ferry/
RUN chmod +x /opt/ferry/docker/*.sh && mkdir -p /usr/local/bin && ln -s /opt/ferry/cli/bin/ferry.js /usr/local/bin/ferry \
    && node /opt/ferry/cli/bin/ferry.js --help >/dev/null

# Either daemon, with the flags it takes on a host (a token file mounted read-only, the images in a volume):
#   docker run -v /etc/ferry/token:/run/secrets/token:ro -v ferry-data:/data -p 7070:7070 ferry:local \
#     target --listen 0.0.0.0:7070 --dir /data --token-file /run/secrets/token
#   docker run -v /etc/ferry/token:/run/secrets/token:ro -v /dev/shm:/dev/shm -p 127.0.0.1:7071:7071 ferry:local \
#     source --listen 0.0.0.0:7071 --token-file /run/secrets/token
# Each port serves its daemon's API, GET /metrics (Prometheus) and the live page at /.
EXPOSE 7070 7071
ENTRYPOINT ["node", "/opt/ferry/cli/bin/ferry.js"]
CMD ["--help"]

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

ENTRYPOINT ["node", "/opt/ferry/cli/bin/ferry.js"]
CMD ["--help"]

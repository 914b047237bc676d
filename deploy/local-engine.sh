#!/bin/sh
# A Docker engine for this machine when none runs (qraptor's CI machines): Debian's
# docker.io, the compose v2 plugin (Debian 13's package: Debian 12 has only compose v1,
# which cannot pass secrets from variables), a dockerd without a bridge network, and a
# Debian 12 base image made with debootstrap (no registry is reachable). Idempotent; needs
# root and apt. Prints the DOCKER_HOST to export and the BASE to build from.
#   eval "$(sh deploy/local-engine.sh)"     then   make images BASE=$BASE
set -eu
dir=${QRAPTOR_ENGINE_DIR:-/tmp/qraptor-engine}
sock="unix://$dir/docker.sock"
base=local/debian:bookworm
log() { echo "local-engine: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "needs root (apt-get, dockerd)"; exit 3; }
command -v apt-get >/dev/null || { log "needs apt-get"; exit 3; }
mkdir -p "$dir"
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing docker.io and debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null; }
fi
plugin=/usr/libexec/docker/cli-plugins/docker-compose
if ! docker compose version >/dev/null 2>&1; then
  log "fetching the compose v2 plugin from Debian 13 (trixie)"
  apt_dir="$dir/apt"; mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$apt_dir/trixie.sources"
  opts="-o Dir::Etc::SourceList=$apt_dir/trixie.sources -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$apt_dir/lists -o Dir::Cache=$apt_dir"
  # shellcheck disable=SC2086
  apt-get $opts update -qq >/dev/null
  # shellcheck disable=SC2086
  (cd "$apt_dir" && apt-get $opts download docker-compose >/dev/null 2>&1)
  dpkg-deb -x "$apt_dir"/docker-compose_*.deb "$apt_dir/x"
  mkdir -p "$(dirname "$plugin")" && cp "$apt_dir/x/usr/libexec/docker/cli-plugins/docker-compose" "$plugin"
fi
export DOCKER_HOST="$sock"
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (no bridge network) in $dir"
  nohup dockerd --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
    --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    -H "$sock" --storage-driver overlay2 >"$dir/dockerd.log" 2>&1 &
  i=0; until docker info >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 60 ] || { log "dockerd did not start: $dir/dockerd.log"; tail -5 "$dir/dockerd.log" >&2; exit 4; }
    sleep 0.5
  done
fi
if ! docker image inspect "$base" >/dev/null 2>&1; then
  log "making $base with debootstrap (minbase)"
  rm -rf "$dir/rootfs"
  debootstrap --variant=minbase bookworm "$dir/rootfs" http://deb.debian.org/debian >"$dir/debootstrap.log" 2>&1
  tar -C "$dir/rootfs" -c . | docker import - "$base" >/dev/null
  rm -rf "$dir/rootfs"
fi
echo "export DOCKER_HOST=$sock"
echo "BASE=$base"
echo "QRAPTOR_NETWORK=host"

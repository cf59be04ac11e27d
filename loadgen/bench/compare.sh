#!/usr/bin/env bash
# Concord against Janus 1.1.2's VideoRoom, same load generator, one run (docs/benchmarks.md).
#
#   bash loadgen/bench/compare.sh [more `concord-loadgen compare` flags, e.g. --seconds 30]
#
# Installs what is missing (janus, janus-tools, ffmpeg, iproute2) with apt-get, builds the server
# and the generator, and runs the comparison inside a private network namespace that only has
# loopback and a veth pair whose two ends both stay inside it: no traffic leaves the namespace.
# Needs root (apt-get, ip netns).
set -euo pipefail

cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "compare.sh: run as root (it installs packages and creates a network namespace)" >&2
    exit 1
fi

missing=()
for pkg in janus janus-tools ffmpeg iproute2; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    # Debian starts a system-wide Janus with the stock configuration (every plugin, every
    # interface) where systemd runs: the benchmark starts its own, so stop that one.
    if [[ " ${missing[*]} " == *" janus "* ]] && [ -d /run/systemd/system ]; then
        systemctl disable --now janus.service || true
    fi
fi

echo "== building"
cargo build --release -p concord-signaling -p concord-loadgen

ns="concord-bench-$$"
cleanup() {
    # Whatever is still running in the namespace was started by this script.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
        kill "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
# Janus's ICE library skips loopback interfaces: the media address sits on a veth.
ip -n "$ns" link add cbench0 type veth peer name cbench1
ip -n "$ns" addr add 127.0.0.2/32 dev cbench0
ip -n "$ns" link set cbench0 up
ip -n "$ns" link set cbench1 up
# webrtc-rs opens an mDNS socket, which fails (ENODEV) without a multicast route.
ip -n "$ns" route add 224.0.0.0/4 dev cbench0

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(free -m | awk '/^Mem:/ {print $2}') MB RAM; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(janus --version 2>/dev/null | head -1); started $(date -u +%FT%TZ)"

ip netns exec "$ns" "${CARGO_TARGET_DIR:-target}/release/concord-loadgen" compare \
    --ice-interface cbench0 --media-ip 127.0.0.2 \
    --seconds 20 --settle-seconds 2 "$@"

echo "== finished $(date -u +%FT%TZ); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Installs the Debian packages the test suite and `make bench` need: real registry clients
# (skopeo, podman, buildah, umoci, docker.io for tests/e2e and tests/test_auth_clients.py),
# the reference registry (docker-registry, for bench/), redis-server (the Redis backend of the
# coordination layer), PostgreSQL 15 (the throwaway servers of tests/services.py) and HAProxy
# and nginx (the load balancer of tests/topology.py, and `nginx -t` of deploy/), apache2-utils
# (htpasswd: the reference registry's Basic-auth users in the replication tests). Quick
# no-op when everything is already there.
set -euo pipefail
need=()
for pkg in skopeo podman buildah umoci docker.io docker-registry redis-server postgresql-15 haproxy nginx apache2-utils; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

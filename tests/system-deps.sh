#!/usr/bin/env bash
# Installs the Debian packages the test suite and `make bench` need: real registry clients
# (skopeo, podman, buildah, umoci, docker.io for tests/e2e and tests/test_auth_clients.py),
# the reference registry (docker-registry, for bench/), redis-server (the Redis backend of the
# coordination layer), PostgreSQL 15 (the throwaway servers of tests/services.py) and HAProxy
# and nginx (the load balancer of tests/topology.py, and `nginx -t` of deploy/), slapd (the
# throwaway OpenLDAP of tests/ldap_server.py), apache2-utils (htpasswd: the reference
# registry's Basic-auth users in the replication tests) and Node.js with npm (the throwaway
# OpenID provider of tests/oidc_provider.py, whose npm packages the tests install on first use;
# the web UI's build and tests) and chromium (the headless browser of tests/test_ui_browser.py).
# Quick no-op when everything is already there.
set -euo pipefail
need=()
for pkg in skopeo podman buildah umoci docker.io docker-registry redis-server postgresql-15 haproxy nginx slapd apache2-utils chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
# Node.js 18+ (oidc-provider 8 runs on 18 and 20): Debian's when none is installed
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  need+=(nodejs npm)
fi
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

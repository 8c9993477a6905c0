#!/usr/bin/env bash
# Installs the Debian packages the test suite needs: real registry clients and the
# reference registry. Quick no-op when everything is already there.
set -euo pipefail
need=()
for pkg in skopeo podman buildah umoci docker.io docker-registry apache2-utils redis-server nginx; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

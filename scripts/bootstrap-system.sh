#!/usr/bin/env bash
# Installs the Debian packages a group of make targets needs, only those missing.
#
#   scripts/bootstrap-system.sh [build] [services] [bench]
#
#   build     a C compiler and the Python headers (the Cython extensions)
#   services  PostgreSQL and Redis (the test suite's real services)
#   bench     Node.js and npm (the peer servers of the benchmarks)
#
# Idempotent and fast when everything is present: it only looks up commands and files.
# `apt-get update` runs at most once, and only when something is missing.
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build services)

python_bin=${PYTHON:-python3}
missing=()

need_command() {  # need_command COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}

python_headers_present() {
    local include
    include=$("$python_bin" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null) \
        || return 1
    [ -f "$include/Python.h" ]
}

for group in "${groups[@]}"; do
    case "$group" in
        build)
            need_command gcc gcc
            python_headers_present || missing+=(python3-dev)
            ;;
        services)
            # pg_ctlcluster and pg_isready come with postgresql-common / postgresql-client.
            need_command pg_ctlcluster postgresql
            need_command pg_isready postgresql
            need_command redis-server redis-server
            need_command redis-cli redis-server
            ;;
        bench)
            need_command node nodejs
            need_command npm npm
            ;;
        *)
            echo "bootstrap-system: unknown group '$group' (build, services, bench)" >&2
            exit 2
            ;;
    esac
done

[ ${#missing[@]} -gt 0 ] || exit 0
# De-duplicate, keeping order.
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "bootstrap-system: missing ${packages[*]}; install them as root:" >&2
    echo "  apt-get update && apt-get install -y ${packages[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap-system: missing ${packages[*]} and no apt-get here; install them by hand" >&2
    exit 1
fi

echo "bootstrap-system: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"

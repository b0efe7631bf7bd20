#!/usr/bin/env bash
# Makes sure the test suite's real services are up on loopback:
#   PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379.
# A service that answers is left alone. One that does not is started the machine's way
# (pg_ctlcluster; redis-server --daemonize); missing binaries are installed first
# (scripts/bootstrap-system.sh services). Each start is waited for, bounded, and a service that
# still does not answer fails the script with the tail of its log.
#
# Environment (for tests of this script; the defaults are what the suite uses):
#   GB_SERVICES_REDIS_PORT  Redis port to check/start (6379)
#   GB_SERVICES_WAIT        seconds to wait for each service after starting it (30)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
host=127.0.0.1
pg_port=5432
redis_port=${GB_SERVICES_REDIS_PORT:-6379}
wait_s=${GB_SERVICES_WAIT:-30}

pg_up() { pg_isready -q -h "$host" -p "$pg_port" -t 2; }
# `timeout`: a port held by something that is not Redis would leave redis-cli waiting.
redis_up() { [ "$(timeout 3 redis-cli -h "$host" -p "$redis_port" ping 2>/dev/null)" = PONG ]; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

wait_for() {  # wait_for NAME CHECK LOG
    local name=$1 check=$2 log=$3 deadline=$((SECONDS + wait_s))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if "$check"; then
            echo "services: $name started"
            return 0
        fi
        sleep 0.5
    done
    echo "services: $name did not answer within ${wait_s}s; last lines of $log:" >&2
    tail -n 20 "$log" >&2 2>/dev/null || echo "  ($log is not readable)" >&2
    exit 1
}

pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

start_postgres() {
    local version log
    version=$(pg_version)
    if [ -z "$version" ]; then
        echo "services: no PostgreSQL cluster under /etc/postgresql (pg_createcluster one)" >&2
        exit 1
    fi
    log=/var/log/postgresql/postgresql-$version-main.log
    echo "services: starting PostgreSQL $version/main"
    # Already running on another address, or a stale pid: pg_ctlcluster says so; the wait decides.
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for "PostgreSQL $host:$pg_port" pg_up "$log"
}

trust_loopback() {
    # A cluster created by the install just now asks for passwords; the suite connects over
    # loopback without one, as on the CI machine. First matching line wins: put ours first.
    local hba=/etc/postgresql/$(pg_version)/main/pg_hba.conf
    [ -f "$hba" ] || return 0
    grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba" && return 0
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    ! pg_up || as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload
}

start_redis() {
    local dir=/var/lib/redis logdir=/var/log/redis
    if ! { mkdir -p "$dir" "$logdir" && [ -w "$dir" ] && [ -w "$logdir" ]; } 2>/dev/null; then
        # Not root: keep the data and the log in the repository's ignored .services/ folder.
        dir=$repo/.services/redis
        logdir=$dir
        mkdir -p "$dir"
    fi
    echo "services: starting Redis on $host:$redis_port"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" \
        --appendonly no --dir "$dir" --logfile "$logdir/ci.log" || true
    wait_for "Redis $host:$redis_port" redis_up "$logdir/ci.log"
}

if ! command -v pg_isready >/dev/null || ! command -v pg_ctlcluster >/dev/null; then
    "$repo/scripts/bootstrap-system.sh" services
    trust_loopback
fi
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    "$repo/scripts/bootstrap-system.sh" services
fi

if pg_up; then
    echo "services: PostgreSQL $host:$pg_port up"
else
    start_postgres
fi

if redis_up; then
    echo "services: Redis $host:$redis_port up"
else
    start_redis
fi

#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests (as the postgres user, on a free private port
# and socket directory) and print the URL the store tests take from TRUCELINE_TEST_POSTGRES_URL.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
DATA=${TRUCELINE_PGDATA:-/tmp/truceline-ci-pg}
if [ -f "$DATA/postmaster.pid" ]; then  # a server left from an earlier run: stop it first
  su postgres -c "$PGBIN/pg_ctl -D $DATA stop -m immediate" >/dev/null 2>&1 || true
fi
PORT=${TRUCELINE_PGPORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
rm -rf "$DATA" && mkdir -p "$DATA" && chown postgres "$DATA"
su postgres -c "$PGBIN/initdb -D $DATA -A trust -U postgres >/dev/null"
su postgres -c "$PGBIN/pg_ctl -D $DATA -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1' -l $DATA/log -w start >/dev/null"
su postgres -c "$PGBIN/createdb -h /tmp -p $PORT truceline_test"
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/truceline_test"

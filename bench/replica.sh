#!/usr/bin/env bash
# A real PostgreSQL streaming replica of the local server, and the replica tests against it
# (decision 0044): pg_basebackup copies the server on 127.0.0.1:5432 into a new data directory
# under /tmp, a hot standby starts there on port 5433 and streams from the primary, and
# tests/runtime/test_replica.py runs with DATABASE_REPLICA_URL pointing at it. The standby
# and its directory are removed at the end, whatever happens.
#
# Needs root (it runs the PostgreSQL binaries as the postgres user) and a primary that accepts
# replication connections from 127.0.0.1: if pg_hba.conf has no such rule, one trust line is
# appended (as trusting as the server's own "host all all 127.0.0.1/32 trust") and the
# configuration reloaded; nothing else about the primary changes and it is not restarted.
#
#     bench/replica.sh                  # or: REPLICA_PORT=5434 bench/replica.sh -x
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PRIMARY_HOST=127.0.0.1
PRIMARY_PORT=${PRIMARY_PORT:-5432}
REPLICA_PORT=${REPLICA_PORT:-5433}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB_NAME=${KAPFLOW_REPLICA_DB:-kapflow_replica_ci}
started=$(date +%s)

psql_primary() { psql -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -d postgres -Atc "$1"; }
as_postgres() { runuser -u postgres -- "$@"; }

# Replication connections from 127.0.0.1 ("all" in pg_hba.conf does not cover them).
allowed=$(psql_primary "SELECT count(*) FROM pg_hba_file_rules WHERE type = 'host'
  AND database @> ARRAY['replication'] AND address = '127.0.0.1' AND error IS NULL")
if [ "$allowed" = "0" ]; then
  hba=$(psql_primary "SHOW hba_file")
  echo "== allowing replication from 127.0.0.1 in $hba"
  printf '%s\n' "host    replication     all             127.0.0.1/32            trust" >>"$hba"
  psql_primary "SELECT pg_reload_conf()" >/dev/null
  sleep 1
fi

data=$(mktemp -d /tmp/kapflow-replica-XXXXXX)
chown postgres: "$data"
chmod 700 "$data"
cleanup() {
  if [ -f "$data/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

echo "== pg_basebackup of $PRIMARY_HOST:$PRIMARY_PORT into $data"
# -R writes standby.signal and primary_conninfo; -X stream copies the WAL made meanwhile;
# no replication slot, so nothing stays behind on the primary when the standby is gone.
as_postgres "$PG_BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres \
  -D "$data" -R -X stream -c fast

# Debian keeps the primary's configuration outside its data directory: the standby gets its
# own. A hot standby needs these limits at least as high as the primary's.
{
  echo "port = $REPLICA_PORT"
  echo "listen_addresses = '127.0.0.1'"
  echo "unix_socket_directories = '$data'"
  echo "hot_standby = on"
  echo "shared_buffers = 64MB"
  for name in max_connections max_worker_processes max_wal_senders \
    max_prepared_transactions max_locks_per_transaction; do
    echo "$name = $(psql_primary "SHOW $name")"
  done
} >"$data/postgresql.conf"
printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" >"$data/pg_hba.conf"
printf '' >"$data/pg_ident.conf"
chown postgres: "$data"/*.conf

echo "== starting the standby on port $REPLICA_PORT"
as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$data/standby.log" -w -t 60 start >/dev/null
recovering=$(psql -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -d postgres -Atc "SELECT pg_is_in_recovery()")
if [ "$recovering" != "t" ]; then
  echo "the server on port $REPLICA_PORT is not a standby" >&2
  exit 1
fi
echo "== standby streaming after $(($(date +%s) - started)) s; running the replica tests"

DATABASE_URL="postgres://postgres@$PRIMARY_HOST:$PRIMARY_PORT/$DB_NAME" \
  DATABASE_REPLICA_URL="postgres://postgres@127.0.0.1:$REPLICA_PORT/$DB_NAME" \
  KAPFLOW_TEST_REPLICA_URL="postgres://postgres@127.0.0.1:$REPLICA_PORT/$DB_NAME" \
  KAPFLOW_TESTING=1 .venv/bin/pytest tests/runtime/test_replica.py -q -p no:cacheprovider \
  --create-db "$@"
echo "== replica: done in $(($(date +%s) - started)) s"

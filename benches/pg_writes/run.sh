#!/bin/bash
# What PostgreSQL spends per delivery on each part of what hookshape writes, measured with
# pgbench on hookshape's own schema (BENCHMARKS.md, "What each row costs").
#
#   benches/pg_writes/run.sh MODEL [SECONDS] [DELIVERIES_PER_S]
#
# MODEL: floor (events and history rows only), keys (+ search keys), queue (+ a queue row
# leased at intake and moved into the history), full (keys and queue: today's writes), lean
# (keys, and the request kept with its event instead of a queue row: a sketch of a change),
# leased (full, but the row leased at intake in a table with only a primary key: another),
# logged (leased, but its rows never deleted; the history written as lean writes it).
# Two pgbench clients at a fixed rate, as hookshape's one inserter (15 events a statement)
# and one recorder (54 results a statement) run at fan-out 1. Each run makes a new database
# `pg_writes` on the server PGURL (default postgres://postgres@127.0.0.1:5433), which must
# be on this machine (its processes' CPU is read from /proc) and let us read
# data_directory (a superuser). Prints one line:
#   model|PostgreSQL CPU µs per delivery|deliveries in the window|per s|WAL B|buffers|transactions per delivery|history rows|queue rows left|vacuums
# measured from 2 s after the start to 1 s before the end.
set -euo pipefail
model=$1; secs=${2:-15}; rate=${3:-5400}
# Each model's intake and results scripts; "logged" is leased's intake with lean's results.
case $model in
  floor | keys) intake=$model results=history ;;
  queue | full) intake=$model results=queue ;;
  lean | leased) intake=$model results=$model ;;
  logged) intake=leased results=lean ;;
  *) echo "run.sh: MODEL is floor, keys, queue, full, lean, leased or logged, not $model" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
server=${PGURL:-postgres://postgres@127.0.0.1:5433}
P=(psql -X -qAt -v ON_ERROR_STOP=1)
"${P[@]}" -d "$server/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS pg_writes" -c "CREATE DATABASE pg_writes"
db="$server/pg_writes"
for f in "$here"/../../src/store/postgres/migrations/*.sql "$here/setup.sql"; do "${P[@]}" -d "$db" -f "$f"; done
"${P[@]}" -d "$db" -c "CHECKPOINT"
postmaster=$(head -1 "$("${P[@]}" -d "$db" -c "SHOW data_directory")/postmaster.pid")
if [ "$(cat "/proc/$postmaster/comm" 2>/dev/null)" != postgres ] || [ -z "$(ps -o pid= --ppid "$postmaster")" ]; then
  echo "run.sh: the server's postmaster ($postmaster) is not a process of this machine with children" >&2
  exit 2
fi

# CPU ticks of the server: the postmaster, its children, and the children it has reaped.
cpu() {
  local total c
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat")
  for c in $(ps -o pid= --ppid "$postmaster"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
stats="SELECT pg_current_wal_lsn(), blks_hit + blks_read, xact_commit, (SELECT last_value FROM model_event_ids)
         FROM pg_stat_database WHERE datname = 'pg_writes'"

# The bench's event body and a request rendered from it (hookshape bench, fan-out 1).
body='{"Topic":"bench.event","Payload":{"SentAt":1796612908215454,"N":31,"Points":31,"Customer":{"Id":"C-31","Name":"Bench Customer 31","Email":"customer31@example.com","Tier":"gold"},"Store":{"Id":"S-31","City":"São Paulo"},"Items":[{"Sku":"A-1","Qty":2,"Price":19.9},{"Sku":"B-7","Qty":1,"Price":5.5}]}}'
request='{"method":"POST","url":"http://127.0.0.1:43695/r/0/C-31?t=1796612908215454","headers":[],"body":"{\"customer_id\":\"C-31\",\"name\":\"Bench Customer 31\",\"points\":31,\"store\":\"S-31\",\"items\":2,\"event_id\":\"01a24e79-64b9-74f7-8079-c8ae9c76d98e\"}","sensitive":[]}'
vars=(-D "body=$body" -D "request=$request" -D "version=v1-3b8f0c2a1d" -D last=0)
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
pgbench -n -M prepared -c 1 -T "$secs" -R "$(echo "$rate / 15" | bc -l)" "${vars[@]}" -f "$here/intake_$intake.sql" "$db" \
  >"$out/intake" 2>&1 &
inserter=$!
# The recorder starts a little after intake, so it never looks for rows not yet written, and
# plans by index as hookshape's results statement does (store/postgres/by_index.rs).
sleep 0.3
PGOPTIONS="-c enable_seqscan=off" pgbench -n -M prepared -c 1 -T "$secs" -R "$(echo "$rate / 54" | bc -l)" "${vars[@]}" \
  -f "$here/results_$results.sql" "$db" >"$out/results" 2>&1 &
recorder=$!
# The queue tables vacuumed as the store vacuums `queue` (store/postgres/vacuum.rs): looked at
# every second, vacuumed past 10,000 dead rows and a fifth of the live ones.
(
  while kill -0 $recorder 2>/dev/null; do
    sleep 1
    for table in queue model_leased; do
      if [ "$("${P[@]}" -d "$db" -c "SELECT pg_stat_get_dead_tuples('$table'::regclass)
                > greatest(pg_stat_get_live_tuples('$table'::regclass) / 5, 10000)")" = t ]; then
        "${P[@]}" -d "$db" -c "VACUUM (SKIP_LOCKED) $table" && echo "$table" >>"$out/vacuums"
      fi
    done
  done
) &
# The window: from 2 s after the start to 1 s before the end, as hookshape bench's progress lines.
sleep 2
before=$("${P[@]}" -d "$db" -c "$stats"); cpu0=$(cpu); t0=$(date +%s.%N)
sleep $((secs - 3))
after=$("${P[@]}" -d "$db" -c "$stats"); cpu1=$(cpu); t1=$(date +%s.%N)
wait $inserter || { cat "$out/intake" >&2; exit 1; }
wait $recorder || { cat "$out/results" >&2; exit 1; }
vacuums=0
[ -f "$out/vacuums" ] && vacuums=$(wc -l <"$out/vacuums")
"${P[@]}" -d "$db" -c "
  WITH s(at, lsn, blks, xacts, events) AS (
         SELECT at, split_part(t, '|', 1)::pg_lsn, split_part(t, '|', 2)::bigint, split_part(t, '|', 3)::bigint,
                split_part(t, '|', 4)::numeric
           FROM (VALUES ('before', '$before'), ('after', '$after')) v(at, t)),
       b AS (SELECT * FROM s WHERE at = 'before'), a AS (SELECT * FROM s WHERE at = 'after')
  SELECT '$model', round(($cpu1 - $cpu0) * 1000000.0 / $(getconf CLK_TCK) / (a.events - b.events), 1),
         a.events - b.events, round((a.events - b.events) / ($t1 - $t0)),
         round(pg_wal_lsn_diff(a.lsn, b.lsn) / (a.events - b.events)), round((a.blks - b.blks) / (a.events - b.events), 1),
         round((a.xacts - b.xacts) / (a.events - b.events), 3), (SELECT count(*) FROM deliveries), (SELECT count(*) FROM queue), $vacuums
    FROM a, b"
grep -h "^latency average" "$out/intake" "$out/results" >&2

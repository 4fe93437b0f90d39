#!/usr/bin/env bash
# scripts/s3/stop.sh DIR — stops exactly the daemons scripts/s3/start.sh DIR
# recorded in DIR/pids (each checked against /proc/PID/cmdline naming DIR's
# ceph.conf, so a reused PID is never signalled), then removes DIR.
# The OSD gets SIGKILL at once: its memstore data is being discarded anyway.
set -euo pipefail
say() { echo "[scripts/s3/stop] $*" >&2; }
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || { say "$1 does not exist; nothing to stop"; exit 0; }
DIR=$(cd "$1" && pwd -P)
[ -e "$DIR/.hcs-s3" ] || { say "ERROR: $DIR was not made by start.sh; not touching it"; exit 1; }
CONF=$DIR/ceph.conf
exec 8>"$DIR/.lock"
flock -w 60 8 || { say "ERROR: another start/stop holds $DIR/.lock"; exit 1; }

ours() { local c; c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1; [[ $c == *"-c $CONF "* ]]; }
gone() { for _ in $(seq 1 "$2"); do ours "$1" || return 0; sleep 0.1; done; return 1; }

if [ -f "$DIR/pids" ]; then
  for name in radosgw ceph-osd ceph-mon; do
    while read -r pid n; do
      [ "$n" = "$name" ] && ours "$pid" || continue
      if [ "$name" = ceph-osd ]; then kill -KILL "$pid" 2>/dev/null || true
      else kill -TERM "$pid" 2>/dev/null || true; fi
      # a radosgw stuck on a full OSD ignores SIGTERM: 5 s, then SIGKILL
      gone "$pid" 50 || { kill -KILL "$pid" 2>/dev/null || true; gone "$pid" 50 || true; }
      say "stopped $name (pid $pid)"
    done <"$DIR/pids"
  done
fi
rm -rf "$DIR"

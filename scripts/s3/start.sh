#!/usr/bin/env bash
# scripts/s3/start.sh DIR [PORT] — the project's S3 server for tests and CI.
#
# Starts a single-node Ceph cluster from Debian's packages (radosgw, ceph-mon,
# ceph-osd): one monitor, one memstore OSD and a RADOS Gateway serving S3 on
# 127.0.0.1:PORT (default 7480). All state lives under DIR; nothing else is
# written. Prints S3_* settings on stdout (also saved to DIR/env) once a
# SigV4-signed bucket PUT has succeeded; progress and errors go to stderr.
#
# Run again on the same DIR: prints the settings if everything runs, or
# relaunches a dead radosgw/monitor (objects stay: they live in the OSD).
# A dead OSD loses its in-memory objects: then stop.sh DIR and start afresh.
#
# Decisions (see shared/services/s3/README.md for the measurements):
# - cephx off, msgr v1, every socket on 127.0.0.1; the gateway's S3 signature
#   check is the only auth, as in any S3 test server.
# - The OSD is registered and the RGW pools created by one librados client
#   before the OSD boots (seconds faster than radosgw creating pools one by
#   one, and it avoids the OSD's own boot-time monitor commands).
# - tcp_nodelay=1 on the beast frontend (Nagle made each GET ~48 ms), and
#   osd client watch timeout = 10 so a killed radosgw's watches expire fast.
set -euo pipefail

ACCESS_KEY=${S3_TEST_ACCESS_KEY:-HCSSTORETESTKEY00001}
SECRET_KEY=${S3_TEST_SECRET_KEY:-hcsstoretestsecret00000000000000000000001}
REGION=us-east-1
WAIT=${S3_START_TIMEOUT:-60}
MEM_BYTES=${S3_MEMSTORE_BYTES:-4294967296}

say() { echo "[scripts/s3/start] $*" >&2; }
die() { echo "[scripts/s3/start] ERROR: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] || { echo "usage: $0 DIR [PORT]" >&2; exit 2; }
PORT=${2:-7480}
case $PORT in '' | *[!0-9]*) die "PORT must be a number";; esac
[ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "PORT out of range: $PORT"
case $1 in *[[:space:]]*) die "DIR must not contain whitespace";; esac

missing=""
for c in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool curl uuidgen setsid flock; do
  command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[ -z "$missing" ] || die "missing commands:$missing (Debian: apt-get install radosgw ceph-mon ceph-osd curl uuid-runtime)"
# librados for Python comes with ceph-common; use the interpreter the ceph CLI uses
PY=$(sed -n '1s/^#! *//p' "$(command -v ceph)" 2>/dev/null || true)
PY=${PY:-python3}
"$PY" -c 'import rados' 2>/dev/null || die "$PY cannot import rados (python3-rados)"

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
CONF=$DIR/ceph.conf
if [ ! -e "$DIR/.hcs-s3" ] && [ -n "$(ls -A "$DIR")" ]; then
  die "$DIR is not empty and was not made by this script"
fi
touch "$DIR/.hcs-s3"
exec 8>"$DIR/.lock"
flock -w "$WAIT" 8 || die "another start/stop holds $DIR/.lock"

# alive NAME: the recorded PID of daemon NAME, if that process still runs with our ceph.conf
alive() {
  local pid name cmd
  [ -f "$DIR/pids" ] || return 1
  while read -r pid name; do
    [ "$name" = "$1" ] || continue
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    case $cmd in *"-c $CONF "*) echo "$pid"; return 0;; esac
  done <"$DIR/pids"
  return 1
}

# spawn NAME CMD...: run a daemon in the foreground (-f) of its own session; record its PID
spawn() {
  local name=$1; shift
  setsid "$@" -f >>"$DIR/log/$name.out" 2>&1 </dev/null 8>&- &
  local pid=$!
  disown "$pid" 2>/dev/null || true
  { grep -v " $name\$" "$DIR/pids" 2>/dev/null || true; echo "$pid $name"; } >"$DIR/pids.new"
  mv "$DIR/pids.new" "$DIR/pids"
  say "$name started (pid $pid)"
}

bail() {
  say "ERROR: $*"
  for f in "$DIR"/log/*; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 12 "$f" >&2; }; done
  exit 1
}

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
gw_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$PORT/" 2>/dev/null || true; }
signed() { # signed METHOD PATH -> HTTP status of a SigV4-signed request as the test user
  curl -s -o /dev/null -m 30 -w '%{http_code}' -X "$1" --aws-sigv4 "aws:amz:$REGION:s3" \
    --user "$ACCESS_KEY:$SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "http://127.0.0.1:$PORT$2" 2>/dev/null || true
}

settings() {
  printf 'S3_ENDPOINT=http://127.0.0.1:%s\nS3_ACCESS_KEY_ID=%s\nS3_SECRET_ACCESS_KEY=%s\nS3_REGION=%s\nS3_FORCE_PATH_STYLE=true\n' \
    "$PORT" "$ACCESS_KEY" "$SECRET_KEY" "$REGION" >"$DIR/env"
  cat "$DIR/env"
}

new_cluster() {
  in_use "$PORT" && die "127.0.0.1:$PORT is already in use"
  mkdir -p "$DIR"/{mon,osd/ceph-0,run,log,rgw}
  local fsid mon=6789 extra=""
  fsid=$(uuidgen)
  while in_use "$mon" || [ "$mon" = "$PORT" ]; do
    mon=$((mon + 1)); [ "$mon" -le 6799 ] || die "no free monitor port in 6789-6799"
  done
  # daemons bind 6800-7300 by default: keep them clear of the S3 port
  if [ "$PORT" -ge 6800 ] && [ "$PORT" -le 7300 ]; then
    extra=$'ms bind port min = 7301\nms bind port max = 7800'
  fi
  echo "$PORT" >"$DIR/port"
  cat >"$CONF" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$cluster-\$name.asok
pid file = $DIR/run/\$cluster-\$name.pid
log file = $DIR/log/\$cluster-\$name.log
mon cluster log file = $DIR/log/\$cluster.log
crash dir = $DIR/log
mon data = $DIR/mon/\$cluster-\$id
osd data = $DIR/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $MEM_BYTES
osd crush update on start = false
osd class update on start = false
osd client watch timeout = 10
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon osd full ratio = .99
mon osd backfillfull ratio = .985
mon osd nearfull ratio = .98
osd failsafe full ratio = .995
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.05
paxos min wait = 0.01
$extra

[client.rgw.a]
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
rgw thread pool size = 64
CONF
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
    >>"$DIR/log/mkfs.out" 2>&1 || bail "ceph-mon --mkfs failed"
  spawn ceph-mon ceph-mon -c "$CONF" -i a
  local uuid id
  uuid=$(uuidgen)
  id=$(timeout "$WAIT" "$PY" - "$CONF" "$uuid" 2>>"$DIR/log/setup.out" <<'PYTHON'
import json, sys, time, threading
import rados
conf, uuid = sys.argv[1], sys.argv[2]
c = rados.Rados(conffile=conf)
c.connect(timeout=60)
def mon(**cmd):
    for _ in range(80):
        rc, out, err = c.mon_command(json.dumps(cmd), b"", timeout=30)
        # -11: monitor still forming quorum; "wrong fsid": a first command now and then
        # arrives with an empty fsid under auth none. Both pass on retry.
        if rc != -11 and not (rc == -1 and "wrong fsid" in err):
            break
        time.sleep(0.25)
    if rc != 0:
        raise SystemExit("%s: %d %s" % (cmd["prefix"], rc, err))
    return out.decode().strip()
osd = mon(prefix="osd new", uuid=uuid, format="plain")
mon(prefix="osd crush create-or-move", id=int(osd), weight=1.0, args=["root=default", "host=localhost"])
pools = [".rgw.root"] + ["default.rgw." + p for p in
         ("control", "meta", "log", "buckets.index", "buckets.data", "buckets.non-ec")]
failed = []
def make(p):
    try:
        mon(prefix="osd pool create", pool=p, pg_num=8, pgp_num=8, pool_type="replicated")
        mon(prefix="osd pool application enable", pool=p, app="rgw")
    except SystemExit as e:
        failed.append(str(e))
ts = [threading.Thread(target=make, args=(p,)) for p in pools]
[t.start() for t in ts]
[t.join() for t in ts]
if failed:
    raise SystemExit("; ".join(failed))
print(osd)
PYTHON
  ) || bail "registering the OSD / creating pools failed"
  [ "$(echo "$id" | tr -dc 0-9)" = 0 ] || bail "expected OSD id 0, got '$id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" >>"$DIR/log/mkfs.out" 2>&1 || bail "ceph-osd --mkfs failed"
  start_osd
  touch "$DIR/.created"
}

start_osd() {
  local relaunched=0
  spawn ceph-osd ceph-osd -c "$CONF" -i 0
  for _ in $(seq 1 $((WAIT * 4))); do
    if timeout 10 ceph --admin-daemon "$DIR/run/ceph-osd.0.asok" status 2>/dev/null | grep -q '"state": "active"'; then
      say "OSD up"; return 0
    fi
    if ! alive ceph-osd >/dev/null; then
      # rare "wrong fsid" exit at boot (see the Python above): one relaunch
      [ "$relaunched" = 0 ] || bail "ceph-osd exited twice"
      relaunched=1; spawn ceph-osd ceph-osd -c "$CONF" -i 0
    fi
    sleep 0.25
  done
  bail "OSD not active after ${WAIT}s"
}

start_gateway() {
  in_use "$PORT" && bail "127.0.0.1:$PORT is already in use"
  spawn radosgw radosgw -c "$CONF" -n client.rgw.a
  local code="" relaunched=0
  for _ in $(seq 1 $((WAIT * 5))); do
    code=$(gw_code); [ "$code" = 200 ] && break
    if ! alive radosgw >/dev/null; then
      [ "$relaunched" = 0 ] || bail "radosgw exited twice"
      relaunched=1; spawn radosgw radosgw -c "$CONF" -n client.rgw.a
    fi
    sleep 0.2
  done
  [ "$code" = 200 ] || bail "gateway not answering on 127.0.0.1:$PORT after ${WAIT}s"
  if ! timeout 60 radosgw-admin -c "$CONF" user info --uid=hcs-test >/dev/null 2>&1; then
    timeout 60 radosgw-admin -c "$CONF" user create --uid=hcs-test --display-name="hcs-store tests" \
      --max-buckets=0 --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" \
      >/dev/null 2>>"$DIR/log/setup.out" || bail "radosgw-admin user create failed"
  fi
  # ready means: a signed request works end to end (the user, the pools, the OSD)
  local probe="hcs-probe-$$-$RANDOM" ok=0
  for _ in $(seq 1 $((WAIT * 2))); do
    if [ "$(signed PUT "/$probe")" = 200 ]; then ok=1; break; fi
    sleep 0.5
  done
  [ "$ok" = 1 ] || bail "signed PUT /$probe never succeeded"
  [ "$(signed DELETE "/$probe")" = 204 ] || bail "signed DELETE /$probe failed"
  say "gateway ready on 127.0.0.1:$PORT"
}

if [ -e "$DIR/.created" ]; then
  [ "$(cat "$DIR/port")" = "$PORT" ] || die "$DIR serves port $(cat "$DIR/port"), not $PORT"
  alive ceph-osd >/dev/null || die "the OSD of $DIR is gone and its objects with it: run stop.sh $DIR, then start again"
  alive ceph-mon >/dev/null || spawn ceph-mon ceph-mon -c "$CONF" -i a
  if ! alive radosgw >/dev/null || [ "$(gw_code)" != 200 ]; then
    if pid=$(alive radosgw); then kill -KILL "$pid"; sleep 0.2; fi
    start_gateway
  fi
else
  [ -e "$DIR/pids" ] && die "$DIR holds a half-built cluster: run stop.sh $DIR first"
  new_cluster
  start_gateway
fi
settings

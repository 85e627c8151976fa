#!/usr/bin/env bash
# A trial deployment on one machine: redis-server, N app.py workers and nginx, all on loopback.
# Usage: bash scripts/cluster.sh [--workers N] [--port PORT] [--dir DIR]
#   --workers N   app.py workers (default 4)
#   --port PORT   nginx listens on 127.0.0.1:PORT (default 8080)
#   --dir DIR     state and logs (default out/cluster): redis data, nginx prefix, worker logs
# Ctrl-C (or SIGTERM to this script) stops everything it started, workers first.
# Needs Debian's redis-server and nginx (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WORKERS=4
PORT=8080
DIR=out/cluster
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "cluster.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$WORKERS" in ''|*[!0-9]*) echo "cluster.sh: --workers must be a number" >&2; exit 2 ;; esac
[ "$WORKERS" -ge 1 ] && [ "$WORKERS" -le 32 ] || { echo "cluster.sh: --workers must be 1..32" >&2; exit 2; }
for tool in redis-server nginx; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
    echo "cluster.sh: $tool is not installed (apt-get install -y redis-server nginx)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x .venv/bin/python ] || { echo "cluster.sh: run scripts/run.sh or scripts/test.sh once first" >&2; exit 1; }

free_port() {
  .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {  # port, pid, what
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "cluster.sh: $3 exited; see $DIR" >&2; return 1; }
    sleep 0.1
  done
  echo "cluster.sh: $3 is not listening on $1 after 20 s" >&2; return 1
}

mkdir -p "$DIR/redis" "$DIR/nginx/logs" "$DIR/workers"
DIR=$(cd "$DIR" && pwd)
PIDS=()
stop() {
  trap - INT TERM EXIT
  echo "cluster.sh: stopping"
  # Workers and nginx first, Redis last (the workers write to it until they stop).
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis" --save "" \
  --appendonly yes --appendfsync everysec --logfile "$DIR/redis/redis.log" &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_port "$REDIS_PORT" "$REDIS_PID" redis-server
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

# Workers sign stored checkpoints with a shared key (raftviz/service/store/checkpoint.py).
KEY_FILE="$DIR/store.key"
[ -s "$KEY_FILE" ] || (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_hex(32))' >"$KEY_FILE")
export RAFTVIZ_STORE_KEY
RAFTVIZ_STORE_KEY=$(cat "$KEY_FILE")

UPSTREAMS=""
for i in $(seq 1 "$WORKERS"); do
  port=$(free_port)
  .venv/bin/python app.py --host 127.0.0.1 --port "$port" --worker "w$i" \
    --redis "$REDIS_URL" --message-queue "$REDIS_URL" >"$DIR/workers/w$i.log" 2>&1 &
  PIDS+=("$!")
  wait_port "$port" "$!" "worker w$i"
  UPSTREAMS+="server 127.0.0.1:$port max_fails=1 fail_timeout=5s; "
done

sed -e "s|@LISTEN@|127.0.0.1:$PORT|" -e "s|@UPSTREAMS@|$UPSTREAMS|" -e "s|@PREFIX@|$DIR/nginx|g" \
  deploy/nginx.conf >"$DIR/nginx/nginx.conf"
"$NGINX" -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/logs/error.log" \
  -g "daemon off;" &
PIDS+=("$!")
wait_port "$PORT" "$!" nginx

echo "cluster.sh: http://127.0.0.1:$PORT/ -> $WORKERS workers, Redis $REDIS_URL; logs in $DIR"
echo "cluster.sh: Ctrl-C stops everything"
wait -n "${PIDS[@]}" || true
echo "cluster.sh: a process exited; see $DIR" >&2

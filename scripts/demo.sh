#!/usr/bin/env bash
# The demo: the embedded SQLite project under the shim, live traffic, and the TUI in front.
# Started by `make demo`; everything it starts in the background stops when the TUI quits.
set -euo pipefail
port="${1:-8000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$root/.venv/bin/python"
djtop="$root/.venv/bin/djtop"
logs="$root/examples/demo/var"
mkdir -p "$logs"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is busy: run 'make demo PORT=8001'" >&2
  exit 2
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

cd "$root/examples/demo"
"$py" manage.py runserver "127.0.0.1:$port" --noreload >"$logs/runserver.log" 2>&1 &
pids+=($!)
"$py" traffic.py "http://127.0.0.1:$port" --interval 1.5 >"$logs/traffic.log" 2>&1 &
pids+=($!)
echo "demo app on http://127.0.0.1:$port (admin: http://127.0.0.1:$port/admin/, login admin / admin; logs in examples/demo/var/); starting djtop…"
"$djtop"

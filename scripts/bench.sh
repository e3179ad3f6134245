#!/usr/bin/env bash
# `make bench`: measure djtop against the targets of docs/performance.md and rewrite that file's
# tables with the figures of this run (the prose stays; the tables are also printed).
#
#   Rust:   cargo bench --bench ingest|memory|tui|load  (custom harnesses in benches/)
#   pty:    python3 benches/startup.py                  (real binary, start-up to first frame)
#   Python: .bench-venv/bin/python scripts/bench_shim.py (bare Django vs djtop vs debug-toolbar,
#           SQLite and PostgreSQL at 127.0.0.1:5432, sync and async)
#
# Heavy steps run one at a time (the figures are medians; nothing asserts a time). Knobs:
# BENCH_ROUNDS (15), BENCH_QUERIES (2000), BENCH_DBS (sqlite,postgres), DJTOP_BENCH_SCALE (1.0:
# sizes of the Rust benches), BENCH_ONLY (space-separated subset of: rust startup shim ablation
# instructions), BENCH_NO_DOC=1 (print only). On the 2-core reference machine: rust ~12 min, shim ~10 min,
# ablation ~2 min, instructions (valgrind) ~30 min.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV=.bench-venv
ONLY="${BENCH_ONLY:-rust startup shim ablation instructions}"
mkdir -p target/bench
results="target/bench/results-$(date +%Y%m%d-%H%M%S).jsonl"
: > "$results"
export DJTOP_BENCH_JSON="$root/$results"

want() { [[ " $ONLY " == *" $1 "* ]]; }

if [ ! -f "$VENV/.ready" ]; then
  echo "== creating $VENV (Django 5.2, django-debug-toolbar, psycopg, uvicorn)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" -q --disable-pip-version-check install "Django>=5.2,<5.3" django-debug-toolbar \
    "psycopg[binary]>=3.1" "uvicorn>=0.30"
  touch "$VENV/.ready"
fi

echo "== building target/release/djtop"
cargo build --release --locked -q

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== code under test: $(git log -1 --format='%h %s' 2>/dev/null || echo 'not a git checkout')"
echo "== uncommitted in src/ python/djtop/: $(git status --short src python/djtop 2>/dev/null | wc -l) files"

if want rust; then
  for bench in ingest memory tui load; do
    echo "== cargo bench --bench $bench"
    cargo bench --locked -q --bench "$bench"
  done
fi

if want startup; then
  echo "== python3 benches/startup.py"
  "$PYTHON" benches/startup.py --djtop-bin target/release/djtop --json "$DJTOP_BENCH_JSON"
fi

if want shim; then
  echo "== scripts/bench_shim.py (rounds ${BENCH_ROUNDS:-15}, ${BENCH_DBS:-sqlite,postgres})"
  PYTHONPATH= "$VENV/bin/python" scripts/bench_shim.py --djtop-bin target/release/djtop \
    --rounds "${BENCH_ROUNDS:-15}" --queries "${BENCH_QUERIES:-2000}" \
    --dbs "${BENCH_DBS:-sqlite,postgres}" --json "$DJTOP_BENCH_JSON"
fi

if want ablation; then
  echo "== scripts/bench_shim.py ablations (what stacks and relation hooks cost)"
  PYTHONPATH= "$VENV/bin/python" scripts/bench_shim.py --djtop-bin target/release/djtop \
    --rounds "${BENCH_ROUNDS:-15}" --queries "${BENCH_QUERIES:-2000}" --dbs sqlite \
    --scenarios pk,fk --profile "" --tag ablation \
    --variants bare,djtop,djtop_norel,djtop_nostacks,djtop_min --json "$DJTOP_BENCH_JSON"
fi

if want instructions; then
  if command -v valgrind >/dev/null; then
    echo "== scripts/bench_shim.py --instructions (valgrind callgrind)"
    PYTHONPATH= "$VENV/bin/python" scripts/bench_shim.py --djtop-bin target/release/djtop \
      --instructions --queries 500 --scenarios pk,fk --variants bare,djtop,djtop_down,toolbar \
      --json "$DJTOP_BENCH_JSON" 2>&1 | grep -v '^=='
    # The async views: the ORM runs in asgiref's worker thread, so the collector-down count
    # (the app's main thread only, see bench_shim.instructions) would miss it: not run.
    PYTHONPATH= "$VENV/bin/python" scripts/bench_shim.py --djtop-bin target/release/djtop \
      --instructions --queries 500 --scenarios apk,afk --variants bare,djtop,toolbar \
      --json "$DJTOP_BENCH_JSON" 2>&1 | grep -v '^=='
  else
    echo "SKIPPED instructions: valgrind is not installed"
  fi
fi

# A partial run (BENCH_ONLY) rewrites only the tables whose every input it measured: the shim
# table needs the timed run (the instruction counts add the collector-down figures), the
# breakdown needs the ablation and the instruction counts. To combine runs, pass their result
# files together: python3 benches/render.py OLD.jsonl NEW.jsonl --only shim,shim-breakdown --doc …
blocks=""
if want rust || want startup; then blocks="$blocks,ingest,memory,tui,load"; fi
if want shim; then blocks="$blocks,shim"; fi
if want ablation && want instructions; then blocks="$blocks,shim-breakdown"; fi
if [ -z "$blocks" ]; then
  echo "== no table has all its inputs in this run: printing only ($results)"
  "$PYTHON" benches/render.py "$results" --only shim,shim-breakdown || true
  exit 0
fi
echo "== summary (all figures in $results)"
if [ "${BENCH_NO_DOC:-}" = 1 ]; then
  "$PYTHON" benches/render.py "$results" --only "${blocks#,}"
else
  "$PYTHON" benches/render.py "$results" --only "${blocks#,}" --doc docs/performance.md
fi

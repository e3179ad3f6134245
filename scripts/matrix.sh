#!/usr/bin/env bash
# Run the Python suites under Django 6.0, 6.1 and 4.2 with whichever Pythons this machine has
# (Django 5.2 LTS runs in `make test-python`). Says plainly what it skipped and why.
# `scripts/matrix.sh next` runs them instead on the newest Django on PyPI, pre-releases
# included (make test-django-next), so a coming Django shows up before users meet it.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
status=0
# pythonX.Y on PATH, else under pyenv's versions (its shims answer only for the active one).
find_python() {
  local name="$1" candidate
  for candidate in "$(command -v "$name" 2>/dev/null)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"${name#python}".*/bin/"$name"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import venv' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
}
run() {
  local label="$1" spec="$2"; shift 2
  local pre=""
  if [ "$label" = "djnext" ]; then pre="--pre --upgrade"; fi
  local py=""
  for name in "$@"; do
    py="$(find_python "$name")"
    [ -n "$py" ] && break
  done
  if [ -z "$py" ]; then
    echo "SKIPPED: $label: none of [$*] is installed on this machine"
    return
  fi
  local venv=".venv-$label"
  # The database drivers: the EXPLAIN tests run against PostgreSQL and MariaDB here too;
  # Django REST framework for test_frameworks.py (a test dependency, never the shim's).
  local ready="$venv/.ready-$spec-db1-drf"
  if [ -n "$pre" ]; then rm -f "$ready"; fi  # always the newest
  if [ ! -f "$ready" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv" && "$venv/bin/pip" -q --disable-pip-version-check install $pre "$spec" "uvicorn>=0.30" "pytest>=8" \
      "psycopg[binary]>=3.1" "mysqlclient>=2.2" djangorestframework \
      && touch "$ready" || { echo "FAILED: $label: could not install $spec"; status=1; return; }
  fi
  echo "== $label: $("$venv/bin/python" -c 'import django, sys; print("Django", django.get_version(), "on Python", sys.version.split()[0])')"
  DJTOP_BIN="$root/target/release/djtop" PYTHONPATH="$root/python" "$venv/bin/python" -m pytest -q tests/python || status=1
}
if [ "${1:-}" = "next" ]; then
  run djnext "Django" python3.13 python3.12
  exit $status
fi
run dj60 "Django>=6.0,<6.1" python3.12 python3.13
run dj61 "Django>=6.1,<6.2" python3.12 python3.13
# 4.2 LTS (supported upstream until April 2026) costs CI one more suite run; kept while cheap.
run dj42 "Django>=4.2,<4.3" python3.10 python3.11 python3.12
exit $status

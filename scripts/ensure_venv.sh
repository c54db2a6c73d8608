#!/usr/bin/env bash
# Make sure VENV is a working virtual environment (a Python that starts, of a supported
# version, with pip), building or rebuilding it when needed. Downloads nothing: venv and
# ensurepip work offline. Called by `make setup` before the packages are installed.
#
#   bash scripts/ensure_venv.sh VENV [PYTHON]     check, rebuild a half-made VENV, create a missing one
#   bash scripts/ensure_venv.sh --check VENV      only print the state: ok | missing | broken: <why>
#
# A half-made VENV is what an interrupted run or a Python without ensurepip (Debian without
# python3-venv) leaves: a folder with no bin/python, a python that does not start or is of an
# unsupported version, or no pip. It is removed and made again with the interpreter that
# scripts/check_python.sh picks (PYTHON, or the first supported one on PATH).
set -u
here=$(cd "$(dirname "$0")" && pwd)

state() {  # prints ok | missing | broken: <why>
  local venv=$1 py v
  if [ ! -e "$venv" ] && [ ! -L "$venv" ]; then echo "missing"; return; fi
  py="$venv/bin/python"
  [ -x "$py" ] || py="$venv/Scripts/python.exe"
  if [ ! -x "$py" ]; then echo "broken: no $venv/bin/python"; return; fi
  v=$("$py" -c 'import sys; print("%d.%d" % tuple(sys.version_info[:2]))' 2>/dev/null | tail -n 1)
  if [ -z "$v" ]; then echo "broken: $py does not start"; return; fi
  case "$v" in
    3.11|3.12) ;;
    *) echo "broken: Python $v (make setup needs 3.11 or 3.12)"; return ;;
  esac
  if ! "$py" -m pip --version >/dev/null 2>&1; then echo "broken: no pip in $venv"; return; fi
  echo "ok"
}

if [ "${1:-}" = "--check" ]; then
  [ $# -ge 2 ] || { echo "usage: $0 --check VENV" >&2; exit 2; }
  state "$2"
  exit 0
fi
[ $# -ge 1 ] || { echo "usage: $0 VENV [PYTHON]" >&2; exit 2; }
venv=$1
python=${2:-}

now=$(state "$venv")
[ "$now" = ok ] && exit 0
if [ "$now" != missing ]; then
  echo "make setup: $venv is half-made (${now#broken: }): removing it and building it again."
  rm -rf "$venv"
fi
base=$(bash "$here/check_python.sh" "$python") || exit 1
echo "make setup: creating $venv with $base ($("$base" -c 'import sys; print(sys.version.split()[0])'))"
if ! "$base" -m venv "$venv"; then
  rm -rf "$venv"
  echo "make setup: '$base -m venv $venv' failed (see above); nothing was downloaded." >&2
  exit 1
fi
now=$(state "$venv")
if [ "$now" != ok ]; then
  rm -rf "$venv"
  echo "make setup: the new $venv is not usable (${now#broken: }); removed it, nothing was downloaded." >&2
  echo "  Debian/Ubuntu: sudo apt-get install python3-venv   (or use conda / pyenv: see README)" >&2
  exit 1
fi
exit 0

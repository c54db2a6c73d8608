#!/usr/bin/env bash
# Pre-flight for `make setup`: find a Python the course supports, with working venv and pip,
# BEFORE anything is downloaded.
#
#   bash scripts/check_python.sh [PYTHON]
#
# With PYTHON (a command or a path) only that interpreter is checked; without it python3,
# python3.11, python3.12 and python are tried in turn. On success the chosen
# interpreter's command is printed on stdout (exit 0). Otherwise one message says what was
# found, what is needed and the install command per platform, on stderr (exit 1).
# Written for bash 3.2 (macOS) and for any Python the user may have, 2.7 included.
set -u

# make setup installs requirements-lock.txt, whose pins (numpy 2.4, pandas 3.1, ...) need
# Python 3.11 or 3.12 (tests/test_setup.py checks these numbers against the lock). pyproject.toml
# allows 3.10 too: the light path (pip install -e .) then picks older versions.
MIN_MINOR=11
MAX_MINOR=12
TESTED=3.11

version_of() {  # prints "3.11.7" or nothing
  "$1" -c 'import sys; print("%d.%d.%d" % tuple(sys.version_info[:3]))' 2>/dev/null | tail -n 1
}

supported() {  # "3.11.7" -> exit 0 when 3.10 <= version <= 3.12
  case "$1" in
    3.*.*) ;;
    *) return 1 ;;
  esac
  local minor=${1#3.}
  minor=${minor%%.*}
  case "$minor" in ''|*[!0-9]*) return 1 ;; esac
  [ "$minor" -ge "$MIN_MINOR" ] && [ "$minor" -le "$MAX_MINOR" ]
}

has_venv() {  # venv and ensurepip (which gives a new venv its pip) can be imported
  "$1" -c 'import venv, ensurepip' >/dev/null 2>&1
}

found=()
if [ $# -ge 1 ] && [ -n "$1" ]; then
  candidates=("$1")
else
  candidates=(python3 python3.11 python3.12 python)
fi

no_venv=""
for cmd in "${candidates[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    [ ${#candidates[@]} -eq 1 ] && found+=("$cmd: not found")
    continue
  fi
  v=$(version_of "$cmd")
  where=$(command -v "$cmd")
  if [ -z "$v" ]; then
    found+=("$cmd ($where): does not run")
    continue
  fi
  if ! supported "$v"; then
    found+=("$cmd ($where): Python $v")
    continue
  fi
  if ! has_venv "$cmd"; then
    found+=("$cmd ($where): Python $v without venv/ensurepip")
    [ -z "$no_venv" ] && no_venv="$v"
    continue
  fi
  echo "$cmd"
  exit 0
done

{
  echo "make setup: 이 코스를 설치할 Python이 없습니다 (no usable Python; nothing was downloaded)."
  if [ ${#found[@]} -eq 0 ]; then
    echo "  찾은 것 (found):    python3, python3.11, python3.12, python: none on PATH"
  else
    first=1
    for f in "${found[@]}"; do
      if [ $first = 1 ]; then echo "  찾은 것 (found):    $f"; first=0; else echo "                      $f"; fi
    done
  fi
  echo "  필요한 것 (needed): Python 3.${MIN_MINOR}-3.${MAX_MINOR} (tested: ${TESTED}) with the venv module and pip"
  echo "                      (Python 3.10: only the light install, pip install -e ., with older versions; untested)"
  if [ -n "$no_venv" ]; then
    mm=${no_venv%.*}
    echo "  Python ${mm}는 맞지만 venv/ensurepip가 없습니다 (Debian/Ubuntu ship them separately):"
    echo "    Debian/Ubuntu:  sudo apt-get install python${mm}-venv"
    echo "  그다음 (then):     make setup"
    echo "  root 없이 (without root): use conda or pyenv as below."
  fi
  echo "  설치 (install one, then run the 'then' command):"
  echo "    Debian/Ubuntu:  sudo apt-get install python3.11 python3.11-venv    then: make setup PYTHON=python3.11"
  echo "                    (Ubuntu 24.04: python3.12 python3.12-venv; no 3.11/3.12 package, e.g. Debian 13: conda or pyenv)"
  echo "    Fedora:         sudo dnf install python3.11                        then: make setup PYTHON=python3.11"
  echo "    macOS Homebrew: brew install python@3.11                           then: make setup PYTHON=python3.11"
  echo "    conda:          conda create -n py311 python=3.11 && conda activate py311   then: make setup PYTHON=python"
  echo "                    (or the whole course: conda env create -f environment.yml, see README)"
  echo "    pyenv:          pyenv install 3.11 && pyenv local 3.11             then: make setup PYTHON=\"\$(pyenv which python)\""
} >&2
exit 1

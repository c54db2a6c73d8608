#!/usr/bin/env bash
# Install the system pieces pip cannot: graphviz's `dot`, a Korean font for diagrams, and
# (optional) Debian's full-size Fashion-MNIST. Installs with apt-get when run as root on
# Debian/Ubuntu; otherwise prints the command. Fast when everything is already there.
set -u
missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if ! fc-list 2>/dev/null | grep -qi nanum; then missing+=(fonts-nanum); fi
optional=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || optional+=(dataset-fashion-mnist)
# Tools of the instructor and CI side: bubblewrap sandboxes the grader, Chromium tests the web book.
command -v bwrap >/dev/null 2>&1 || optional+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || optional+=(chromium)
command -v chromedriver >/dev/null 2>&1 || optional+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  echo "Installing system packages: ${missing[*]} ${optional[*]}"
  apt-get update -qq >/dev/null || true
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${missing[@]}" fontconfig >/dev/null || {
      echo "apt-get install ${missing[*]} failed" >&2; exit 1; }
    fc-cache -f >/dev/null 2>&1 || true
  fi
  if [ ${#optional[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null \
      || echo "note: ${optional[*]} could not be installed (Fashion-MNIST benchmark, grader sandbox, web-book browser test)"
  fi
  exit 0
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "Missing system packages: ${missing[*]}"
  echo "  Debian/Ubuntu: sudo apt-get install ${missing[*]}"
  echo "  macOS:         brew install graphviz && brew install --cask font-nanum-gothic"
  echo "  conda:         conda install -c conda-forge graphviz  (see environment.yml)"
  echo "Diagrams need graphviz; without fonts-nanum, Korean labels in diagrams render as boxes."
fi
exit 0

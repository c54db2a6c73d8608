#!/usr/bin/env bash
# Install the system pieces pip cannot: graphviz's `dot`, a Korean font for diagrams, and
# (optional) Debian's full-size Fashion-MNIST. Fast when everything is already there.
#
# As root on Debian/Ubuntu: apt-get installs what is missing. Otherwise nothing needs root
# except `dot`: when fontconfig finds no NanumGothic, the NanumGothic TTFs that the
# koreanize-matplotlib package ships (in the venv, $PY) are copied to the user's font folder
# (~/.local/share/fonts, macOS ~/Library/Fonts) and fc-cache is run, so graphviz draws Hangul.
# What is still missing is reported, with the command per platform, by scripts/finish_setup.py
# (the doctor) at the end of `make setup`.
set -u
PY=${PY:-.venv/bin/python}
has_nanum() { fc-list 2>/dev/null | grep -qi nanum; }
missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
has_nanum || missing+=(fonts-nanum)
optional=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || optional+=(dataset-fashion-mnist)
# Tools of the instructor and CI side: bubblewrap sandboxes the grader, Chromium tests the web book.
command -v bwrap >/dev/null 2>&1 || optional+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || optional+=(chromium)
command -v chromedriver >/dev/null 2>&1 || optional+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  echo "Installing system packages: ${missing[*]:-} ${optional[*]:-}"
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

# No root (or no apt-get): the Korean font for graphviz goes into the user's font folder.
if ! has_nanum; then
  if ! command -v fc-cache >/dev/null 2>&1; then
    echo "note: fontconfig (fc-cache) is not installed, so no font can be set up for graphviz; see the doctor below."
    exit 0
  fi
  src=$("$PY" -c 'import importlib.util, os; s = importlib.util.find_spec("koreanize_matplotlib"); print(os.path.join(os.path.dirname(s.origin), "fonts") if s else "")' 2>/dev/null)
  if [ -z "$src" ] || ! ls "$src"/NanumGothic*.ttf >/dev/null 2>&1; then
    echo "note: koreanize-matplotlib's NanumGothic files were not found; see the doctor below."
    exit 0
  fi
  case "$(uname -s)" in
    Darwin) dest="$HOME/Library/Fonts" ;;
    *) dest="${XDG_DATA_HOME:-$HOME/.local/share}/fonts/nanum-course" ;;
  esac
  mkdir -p "$dest" && cp "$src"/NanumGothic*.ttf "$dest"/ || { echo "could not copy the font to $dest" >&2; exit 0; }
  fc-cache -f "$dest" >/dev/null 2>&1 || true
  if has_nanum; then
    echo "Korean font for graphviz: NanumGothic (from koreanize-matplotlib) installed for $(id -un) in $dest"
  else
    echo "note: NanumGothic was copied to $dest but fontconfig does not list it; see the doctor below."
  fi
fi
exit 0

#!/bin/sh
# The Debian packages that `make demo` and `make test` use beyond Python: Fashion-MNIST's IDX
# files (dataset-fashion-mnist) and a headless browser for the report test (chromium).
# Installs the missing ones when it may (root, or passwordless sudo) and says in one line what
# it did. It never fails the build: without them the demo runs on the bundled digits set and
# the browser test says it was skipped.
set -u
need=""
datasets="${CNNOPT_SYSTEM_DATASETS:-/usr/share/datasets}"  # Debian's dataset-* packages install here
[ -d "$datasets/fashion-mnist" ] || need="$need dataset-fashion-mnist"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
if [ -z "$need" ]; then
  echo "system packages: dataset-fashion-mnist and chromium already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system packages: no apt-get here, not installed:$need (the demo falls back to digits, the browser test is skipped)"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n"
else
  echo "system packages: not root and no passwordless sudo, not installed:$need (the demo falls back to digits, the browser test is skipped; install them with: sudo apt-get install$need)"
  exit 0
fi
log="${TMPDIR:-/tmp}/cnnopt-apt.log"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # $need is a list of package names
if $sudo apt-get update -qq >"$log" 2>&1 && $sudo apt-get install -y -qq $need >>"$log" 2>&1; then
  echo "system packages: installed$need"
else
  echo "system packages: apt-get could not install$need (see $log); the demo falls back to digits, the browser test is skipped"
fi
exit 0

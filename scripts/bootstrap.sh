#!/usr/bin/env bash
# Installs whatever the workspace needs and is missing, idempotently:
#   1. Debian packages (C/C++ toolchain pieces, OpenCV, Vulkan loader + Mesa's CPU driver);
#   2. a project-local Python venv (.venv) with libtorch (the `torch` wheel) and test peers.
# When everything is present it only checks and returns in a few seconds.
# Usage: scripts/bootstrap.sh [--quiet]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
requirements="$root/scripts/python-requirements.txt"
quiet=${1:-}

say() { [ "$quiet" = "--quiet" ] || echo "bootstrap: $*"; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }

# --- Debian packages -------------------------------------------------------------------------
debian_packages=(
  build-essential pkg-config cmake        # C/C++ builds of -sys crates
  clang libclang-dev                      # bindgen (opencv crate)
  libopencv-dev                           # camera capture and calibration
  libvulkan1 mesa-vulkan-drivers          # wgpu: Vulkan loader + lavapipe (CPU) driver
  python3-venv                            # only used when the system python lacks venv
)

missing=()
for pkg in "${debian_packages[@]}"; do
  if [ "$pkg" = python3-venv ] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing Debian packages (${missing[*]}) and no apt-get here"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing Debian packages (${missing[*]}): run as root or install sudo"
    sudo="sudo"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

# --- Rust toolchain --------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup, 1.95 or newer)"
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
[ "$rust_minor" -ge 95 ] 2>/dev/null || die "rustc 1.95 or newer is required, found: $(rustc --version)"

# --- Python venv with libtorch and the interop peers -----------------------------------------
python=${PYTHON:-python3}
command -v "$python" >/dev/null || die "python3 not found"
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi

stamp_file="$venv/.striatum-requirements.sha256"
wanted=$( (cat "$requirements"; "$venv/bin/python" --version) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$wanted" ]; then
  say "installing Python packages into .venv (first time: about 5 GB, a few minutes)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
  tmp="$stamp_file.tmp.$$"
  echo "$wanted" >"$tmp" && mv "$tmp" "$stamp_file"
else
  say "Python venv up to date"
fi

torch_version=$("$venv/bin/python" -W ignore -c 'import torch; print(torch.__version__.split("+")[0])')
[ "$torch_version" = "2.13.0" ] || die "the venv holds torch $torch_version, tch needs 2.13.0"
say "ready (libtorch $torch_version)"

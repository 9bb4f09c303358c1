#!/usr/bin/env bash
# Build the operator image here, where no registry can be pulled from:
#  1. dockyard.local/python:3.11 — this machine's own Python 3.11 (interpreter, standard
#     library, and the shared libraries they load, found with ldd) over the local busybox
#     base image (scripts/base-image.sh);
#  2. the wheels of dockyard and its dependencies (pip, from PyPI);
#  3. the multi-stage Dockerfile, FROM dockyard.local/python:3.11.
# Elsewhere, build Dockerfile FROM an official python image instead (see its header).
# Usage: scripts/operator-image.sh [TAG]   (default dockyard.local/dockyard-operator:0.1.0)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-dockyard.local/dockyard-operator:0.1.0}
PY_IMAGE=dockyard.local/python:3.11
WORK=.cache/operator-image
PYTHON=/usr/bin/python3.11
[[ -x $PYTHON ]] || { echo "operator-image: $PYTHON is missing (apt-get install python3.11)" >&2; exit 1; }
bash scripts/base-image.sh

rm -rf "$WORK"
mkdir -p "$WORK/python/rootfs" "$WORK/wheels"
ROOT=$WORK/python/rootfs

# --- 1. the Python runtime -----------------------------------------------------------
copy() {  # copy a file (and the symlink chain leading to it) to the same path in ROOT
    local path=$1
    while [[ -L $path ]]; do
        mkdir -p "$ROOT$(dirname "$path")"
        cp -P "$path" "$ROOT$path"
        local target
        target=$(readlink "$path")
        [[ $target == /* ]] || target=$(dirname "$path")/$target
        path=$target
    done
    mkdir -p "$ROOT$(dirname "$path")"
    cp "$path" "$ROOT$path"
}
copy $PYTHON
ln -sf python3.11 "$ROOT/usr/bin/python3"
tar -C / --exclude='__pycache__' --exclude='python3.11/test' --exclude='idlelib' \
    --exclude='tkinter' --exclude='turtledemo' --exclude='lib2to3' \
    --exclude='config-3.11-*' -cf - usr/lib/python3.11 | tar -C "$ROOT" -xf -
# What the interpreter, its extension modules and the dependencies' compiled extensions
# (e.g. pydantic-core needs libgcc_s) load; wheels bundle the rest.
libs=$( { ldd $PYTHON; find /usr/lib/python3.11/lib-dynload .venv/lib/python3.11/site-packages \
        -name '*.so' -exec ldd {} \; 2>/dev/null; } \
    | awk '/=> \//{print $3} /^[ \t]*\/.*ld-linux/{print $1}' | sort -u)
for lib in $libs; do copy "$lib"; done
[[ -f /etc/ssl/certs/ca-certificates.crt ]] && copy /etc/ssl/certs/ca-certificates.crt
cat > "$WORK/python/Dockerfile" <<DOCKERFILE
FROM dockyard.local/busybox:latest
COPY rootfs/ /
ENV LANG=C.UTF-8
RUN ["/usr/bin/python3", "-c", "import ssl, ctypes, zlib, lzma, venv; print('python ok')"]
DOCKERFILE
docker build --network none -q -t "$PY_IMAGE" "$WORK/python" >/dev/null
echo "operator-image: built $PY_IMAGE" >&2

# --- 2. the wheels ---------------------------------------------------------------------
.venv/bin/pip wheel --quiet --wheel-dir "$WORK/wheels" . pip >&2

# --- 3. the operator image ---------------------------------------------------------------
docker build --network none -q --build-arg PYTHON_IMAGE="$PY_IMAGE" -t "$TAG" -f Dockerfile \
    "$WORK" >/dev/null
echo "operator-image: built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" \
    | awk '{printf "%.0f MB", $1/1e6}'))" >&2

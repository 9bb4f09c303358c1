#!/usr/bin/env bash
# Build the local base image dockyard.local/busybox:latest with `docker import`
# from Debian's busybox-static (no registry is reachable). Idempotent: skipped
# when the image exists with the current version label. FORCE=1 rebuilds.
set -euo pipefail

IMAGE=${DOCKYARD_BASE_IMAGE:-dockyard.local/busybox:latest}
# Bump when the rootfs content below changes, so existing hosts rebuild.
VERSION=1
LOCK=${DOCKYARD_BASE_LOCK:-/run/lock/dockyard-base-image.lock}

current_version() {
    docker image inspect --format '{{ index .Config.Labels "dev.dockyard.base" }}' \
        "$IMAGE" 2>/dev/null || true
}

if [[ ${FORCE:-0} != 1 && $(current_version) == "$VERSION" ]]; then
    exit 0
fi

mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock -w 120 9
if [[ ${FORCE:-0} != 1 && $(current_version) == "$VERSION" ]]; then
    exit 0
fi

BUSYBOX=/bin/busybox
if [[ ! -x $BUSYBOX ]] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null \
        | grep -q '^install ok installed$'; then
    echo "base-image: Debian package busybox-static is required (scripts/ensure-deps.sh)" >&2
    exit 1
fi

echo "base-image: building $IMAGE" >&2
ROOTFS=$(mktemp -d /tmp/dockyard-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
cd "$ROOTFS"

mkdir -p bin sbin usr/bin usr/sbin etc root tmp www home/app var/log proc sys dev
cp "$(readlink -f "$BUSYBOX")" bin/busybox
chmod 0755 bin/busybox
for applet in $(bin/busybox --list); do
    for dir in bin sbin usr/bin usr/sbin; do
        [[ -e $dir/$applet ]] || ln -s /bin/busybox "$dir/$applet"
    done
done

cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > etc/group <<'GROUP'
root:x:0:
app:x:1000:
nogroup:x:65534:
GROUP
cat > www/index.html <<'HTML'
<!doctype html>
<html><head><title>dockyard</title></head>
<body><h1>Hello from dockyard.local/busybox</h1></body></html>
HTML

chmod 1777 tmp
chmod 0700 root
chown 1000:1000 home/app

tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'CMD ["sh"]' \
    --change "LABEL dev.dockyard.base=$VERSION" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$IMAGE" >/dev/null

# Quick smoke check: the applets the tests rely on resolve and run.
if ! docker run --rm --network none "$IMAGE" sh -c \
        'for a in httpd wget nc sh sleep; do command -v "$a" >/dev/null || exit 1; done;
         wget --help 2>&1 | grep -q "Usage: wget" && sleep 0' ; then
    echo "base-image: smoke test of $IMAGE failed" >&2
    docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
    exit 1
fi
echo "base-image: built $IMAGE" >&2

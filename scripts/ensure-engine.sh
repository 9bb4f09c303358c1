#!/usr/bin/env bash
# Make sure a Docker engine answers on the default socket. An engine that is
# already running is left alone; otherwise dockerd is started detached (it
# outlives this script and the CI job that ran it) and we wait for it.
set -euo pipefail

LOG=${DOCKYARD_DOCKERD_LOG:-/var/log/dockyard-dockerd.log}
WAIT=${DOCKYARD_DOCKERD_WAIT:-60}
LOCK=${DOCKYARD_ENGINE_LOCK:-/run/lock/dockyard-engine.lock}

engine_up() {
    timeout 5 docker info >/dev/null 2>&1
}

engine_up && exit 0

if [[ -n ${DOCKER_HOST:-} && ${DOCKER_HOST} != unix:///var/run/docker.sock \
      && ${DOCKER_HOST} != unix:///run/docker.sock ]]; then
    echo "ensure-engine: DOCKER_HOST=$DOCKER_HOST does not answer;" \
        "not starting a local dockerd for a remote engine" >&2
    exit 1
fi

command -v dockerd >/dev/null 2>&1 || {
    echo "ensure-engine: dockerd not installed; run scripts/ensure-deps.sh" >&2
    exit 1
}

# Serialise concurrent callers (parallel make / pytest) so only one starts dockerd.
mkdir -p "$(dirname "$LOCK")"
exec 9>"$LOCK"
flock -w "$((WAIT + 10))" 9 || { echo "ensure-engine: could not take $LOCK" >&2; exit 1; }

engine_up && exit 0

dockerd_running() {
    local d
    for d in /proc/[0-9]*; do
        [[ $(cat "$d/comm" 2>/dev/null) == dockerd ]] && return 0
    done
    return 1
}

# A dockerd may be running but still starting up: then only wait for it.
started_pid=""
if dockerd_running; then
    echo "ensure-engine: dockerd is running but not answering yet; waiting" >&2
else
    echo "ensure-engine: starting dockerd (log: $LOG)" >&2
    mkdir -p "$(dirname "$LOG")"
    # Detach completely: new session, no controlling terminal, stdin closed,
    # so it survives the end of the calling shell/CI job. Close the lock fd in
    # the child, or the long-lived dockerd would hold the lock forever.
    setsid nohup dockerd >>"$LOG" 2>&1 </dev/null 9>&- &
    started_pid=$!
    disown || true
fi

for ((i = 0; i < WAIT; i++)); do
    if engine_up; then
        echo "ensure-engine: engine is up" >&2
        exit 0
    fi
    if [[ -n $started_pid ]] && ! kill -0 "$started_pid" 2>/dev/null; then
        echo "ensure-engine: dockerd exited during start-up." >&2
        break
    fi
    sleep 1
done

echo "ensure-engine: Docker engine did not answer (waited up to ${WAIT}s)." >&2
echo "ensure-engine: see $LOG (last lines below)" >&2
tail -n 20 "$LOG" >&2 2>/dev/null || true
exit 1

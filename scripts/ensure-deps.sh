#!/usr/bin/env bash
# Install the system packages the harness needs (Debian 12): the Docker engine
# (docker.io: docker CLI + dockerd), busybox-static (source of the local base
# image), git, python3-venv, and what the tests' services and test hosts need. Idempotent and a fast no-op when all present.
set -euo pipefail

SUDO=""
if [[ ${EUID:-$(id -u)} -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    fi
fi

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
if [[ ! -x /bin/busybox ]] || ! pkg_installed busybox-static; then
    missing+=(busybox-static)
fi
command -v git >/dev/null 2>&1 || missing+=(git)
# etcd for the Kubernetes API server the operator tests start (tests/k8s_fixtures.py).
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v curl >/dev/null 2>&1 || missing+=(curl)  # ../shared/k8s/k8sx-up polls with it
# Mosquitto for the MQTT tests (they start their own broker; the packaged service is unused).
command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]] || missing+=(mosquitto)
# The registry tests (tests/test_registry_*.py) run their own docker-registry on
# 127.0.0.1, with htpasswd auth made by apache2-utils' htpasswd.
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
# The test hosts (tests/engine_instance.py) are reached over ssh:// through a real OpenSSH
# server started inside each one; the package's own service is not used.
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# `python3 -m venv` needs ensurepip, which Debian ships in python3-venv.
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
# Headless Chromium for the status page tests (tests/test_status_page_browser.py): driven by
# Playwright's Python package (the dev extra) with this browser; `playwright install`, which
# downloads a browser of its own, is never run. A font so that screenshots show text.
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
pkg_installed fonts-dejavu-core || missing+=(fonts-dejavu-core)

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-deps: missing ${missing[*]} and apt-get is not available;" \
        "install them by hand" >&2
    exit 1
fi

echo "ensure-deps: installing docker.io busybox-static git (missing: ${missing[*]})" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Always install the whole set: apt skips what is already present.
extra=()
for p in "${missing[@]}"; do
    case "$p" in
        python3|python3-venv|docker-registry|apache2-utils|mosquitto|etcd-server|curl) extra+=("$p") ;;
        openssh-server|openssh-client|util-linux|iproute2|openssl) extra+=("$p") ;;
        chromium|chromium-driver|fonts-dejavu-core) extra+=("$p") ;;
    esac
done
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    docker.io busybox-static git "${extra[@]}"

if [[ " ${extra[*]} " == *" docker-registry "* ]]; then
    # The package's own service (port 5000, /var/lib/docker-registry) is not wanted:
    # tests start their own instances. Stop it if the install started it.
    if command -v service >/dev/null 2>&1; then
        $SUDO service docker-registry stop >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
    fi
fi

if [[ " ${extra[*]} " == *" etcd-server "* ]]; then
    # Debian's etcd service (port 2379) is not wanted: the tests start their own etcd.
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
    fi
fi

if [[ " ${extra[*]} " == *" mosquitto "* ]]; then
    # Same for Mosquitto's packaged broker (port 1883): tests run their own.
    if command -v service >/dev/null 2>&1; then
        $SUDO service mosquitto stop >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
    fi
fi

if [[ " ${extra[*]} " == *" openssh-server "* ]]; then
    # Debian's sshd on port 22 is not wanted: each test host runs its own sshd inside its
    # network namespace. Stop and disable the packaged one if the install started it.
    if command -v service >/dev/null 2>&1; then
        $SUDO service ssh stop >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
        $SUDO systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
    fi
fi

for c in docker dockerd git docker-registry htpasswd mosquitto_passwd; do
    command -v "$c" >/dev/null 2>&1 || { echo "ensure-deps: $c still missing" >&2; exit 1; }
done
[[ -x /bin/busybox ]] || { echo "ensure-deps: /bin/busybox still missing" >&2; exit 1; }
[[ -x /usr/sbin/sshd ]] || { echo "ensure-deps: /usr/sbin/sshd still missing" >&2; exit 1; }
[[ -x /usr/bin/chromium ]] || { echo "ensure-deps: /usr/bin/chromium still missing" >&2; exit 1; }
echo "ensure-deps: done" >&2

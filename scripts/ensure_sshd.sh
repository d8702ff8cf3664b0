#!/bin/sh
# Ensure a real OpenSSH server binary (/usr/sbin/sshd) is installed, for the SFTP transport tests.
#
# Idempotent and fast: when /usr/sbin/sshd and ssh-keygen are already there it exits 0 at once.
# Otherwise installs Debian's openssh-server with apt-get (with sudo when not root). Tries the
# install first and runs `apt-get update` only when the first attempt fails (stale package lists).
# The package's post-install step may try to start the service; without systemd (containers,
# policy-rc.d) it does not, and the tests start their own sshd anyway.
#
# Usage: scripts/ensure_sshd.sh        (exit 0 = sshd available)
set -eu

SSHD=/usr/sbin/sshd

# Privilege-separation directory: apt does not create it on a machine without systemd, and sshd
# refuses to start without it.
privsep_dir() {
    [ -d /run/sshd ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        mkdir -p /run/sshd
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n mkdir -p /run/sshd
    fi
}

if [ -x "$SSHD" ] && command -v ssh-keygen >/dev/null 2>&1; then
    privsep_dir || echo "ensure_sshd: не удалось создать /run/sshd / could not create /run/sshd" >&2
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_sshd: $SSHD не найден, а apt-get недоступен; установите OpenSSH server вручную" >&2
    echo "ensure_sshd: $SSHD not found and apt-get is not available; install OpenSSH server by hand" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    echo "ensure_sshd: нужен root или sudo для установки openssh-server / root or sudo is required" >&2
    exit 1
fi

install_pkg() {
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold openssh-server
}

echo "ensure_sshd: installing openssh-server" >&2
if ! install_pkg; then
    echo "ensure_sshd: install failed, running apt-get update and retrying" >&2
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
    install_pkg
fi

# Privilege-separation directory: apt does not create it without systemd.
$SUDO mkdir -p /run/sshd 2>/dev/null || true

if [ ! -x "$SSHD" ]; then
    echo "ensure_sshd: $SSHD всё ещё отсутствует после установки / still missing after install" >&2
    exit 1
fi
exit 0

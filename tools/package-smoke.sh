#!/usr/bin/env bash
# Installs the Debian package into a fresh Debian 12 (debootstrap, minbase)
# and tries it there: the user, the directory, the files, then as the
# webhookd user a database, a target, an event delivered to the packaged
# webhook-receiver, and webhookd's status endpoint; last a reinstall, a
# remove and a purge. Not part of the test suite: it needs root and the
# Debian mirror, and takes a few minutes. Ends with "package smoke: passed".
#
#   tools/package-smoke.sh [DEB]        default: the newest build-release/webhookd_*.deb
#
# The minbase root is made once and kept as a tarball in build-smoke/ (newer
# than a week, else made again; --refresh forces it); every run unpacks a
# fresh root from it. Downloaded .debs are kept in build-smoke/archives.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/setup.sh

mirror=http://deb.debian.org/debian
work=build-smoke
refresh=false
deb=""
while [ $# -gt 0 ]; do
    case "$1" in
    --refresh) refresh=true ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "package-smoke.sh: unknown option $1" >&2; exit 2 ;;
    *) deb="$1" ;;
    esac
    shift
done

started=$SECONDS
fail() {
    echo "package smoke: FAILED: $*" >&2
    exit 1
}
step() { echo "== $*"; }

[ "$(id -u)" -eq 0 ] || fail "it must run as root (debootstrap, chroot, mount)."
if [ -z "$deb" ]; then
    deb=$(find build-release -maxdepth 1 -name 'webhookd_*.deb' -printf '%T@ %p\n' 2>/dev/null |
        sort -rn | head -n 1 | cut -d' ' -f2-)
    [ -n "$deb" ] || fail "no build-release/webhookd_*.deb: run tools/package.sh first."
fi
[ -f "$deb" ] || fail "$deb does not exist."
deb=$(realpath "$deb")
webhookd_install debootstrap curl file python3

mkdir -p "$work/archives/partial"
work=$(realpath "$work")
root="$work/root"
tarball="$work/bookworm-minbase.tar.gz"

# Everything this script starts or mounts is undone here, failure or not.
pids=()
mounts=()
cleanup() {
    local pid m i
    for pid in "${pids[@]}"; do
        if kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
    done
    # Anything else still running inside the root (nothing should be).
    for pid in /proc/[0-9]*; do
        [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && kill -KILL "${pid#/proc/}" 2>/dev/null
    done
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        m=${mounts[i]}
        mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
    done
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mount_in() { # mount_in TARGET MOUNT-ARGS...
    local target="$1"
    shift
    mkdir -p "$target"
    mount "$@" "$target" || fail "could not mount $target."
    mounts+=("$target")
}
in_root() { chroot "$root" "$@"; }
# as_webhookd COMMAND...: in the root, as the webhookd user, with the
# database the package configures.
as_webhookd=(setpriv --reuid=webhookd --regid=webhookd --init-groups
    env -i PATH=/usr/bin:/bin HOME=/var/lib/webhookd WEBHOOKD_DB=/var/lib/webhookd/webhooks.db)
as_webhookd() { chroot "$root" "${as_webhookd[@]}" "$@"; }
# start_as_webhookd LOG COMMAND...: the same in the background. chroot,
# setpriv and env each exec the next, so the pid kept is the program's.
start_as_webhookd() {
    local log="$1"
    shift
    chroot "$root" "${as_webhookd[@]}" "$@" > "$log" 2>&1 &
    pids+=($!)
}
# Fails unless COMMAND succeeds; the sentence says what was expected.
check() { # check SENTENCE COMMAND...
    local sentence="$1"
    shift
    "$@" >/dev/null 2>&1 || fail "$sentence"
    echo "ok  $sentence"
}

if $refresh || [ ! -f "$tarball" ] || [ -n "$(find "$tarball" -mtime +7)" ]; then
    step "debootstrap bookworm minbase (once; kept in $tarball)"
    rm -rf "$root"
    debootstrap --variant=minbase bookworm "$root" "$mirror" 2>&1 | tee "$work/debootstrap.log" |
        webhookd_status_line || {
        tail -n 20 "$work/debootstrap.log" >&2
        fail "debootstrap could not make a Debian 12 root from $mirror (log: $work/debootstrap.log)."
    }
    tar -C "$root" -czf "$tarball.new" . && mv "$tarball.new" "$tarball"
fi

step "a fresh root from $tarball"
rm -rf "$root"
mkdir -p "$root"
tar -C "$root" -xzf "$tarball"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# What a Debian 12 machine has besides the release: its updates and security.
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror}-security bookworm-security main
EOF
# The mirror here may serve a snapshot whose Release files are past their
# Valid-Until date.
echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99smoke"
mount_in "$root/proc" -t proc proc
mount_in "$root/dev" --bind /dev
mount_in "$root/dev/pts" --bind /dev/pts
mount_in "$root/var/cache/apt/archives" --bind "$work/archives"
cp "$deb" "$root/tmp/"
package="/tmp/$(basename "$deb")"

step "apt-get install ./$(basename "$deb")"
export DEBIAN_FRONTEND=noninteractive
{ in_root apt-get update -q && in_root apt-get install -y -q "$package"; } 2>&1 | tee "$work/apt.log" |
    webhookd_status_line || {
    tail -n 20 "$work/apt.log" >&2
    fail "apt-get could not install the package in the fresh root (log: $work/apt.log)."
}
grep -E '^(Setting up|Unpacking) webhookd' "$work/apt.log" | head -n 2

step "what the package put in place"
check "the webhookd system user exists" in_root getent passwd webhookd
# stat in the root: its names for the uid and gid.
owner=$(in_root stat -c '%U:%G %a' /var/lib/webhookd)
[ "$owner" = "webhookd:webhookd 700" ] || fail "/var/lib/webhookd is $owner, not webhookd:webhookd 700."
echo "ok  /var/lib/webhookd is webhookd:webhookd, mode 0700"
# shellcheck disable=SC2016 # dpkg-query's own ${…}
check "/etc/default/webhookd is a conffile" grep -q '/etc/default/webhookd' \
    <(in_root dpkg-query -W -f='${Conffiles}' webhookd)
check "/etc/default/webhookd sets WEBHOOKD_DB" grep -qx 'WEBHOOKD_DB=/var/lib/webhookd/webhooks.db' "$root/etc/default/webhookd"
for f in /usr/share/man/man1/webhookd.1.gz /usr/share/man/man1/webhookctl.1.gz /usr/share/man/man1/webhook-receiver.1.gz \
    /usr/share/bash-completion/completions/webhookctl /usr/share/zsh/vendor-completions/_webhookctl \
    /lib/systemd/system/webhookd.service; do
    check "$f is there" test -s "$root$f"
done
check "man webhookctl's page names the program" grep -q webhookctl <(zcat "$root/usr/share/man/man1/webhookctl.1.gz")
check "the unit is enabled (multi-user.target.wants)" test -L "$root/etc/systemd/system/multi-user.target.wants/webhookd.service"
for b in webhookd webhookctl webhook-receiver; do
    kind=$(file -b "$root/usr/bin/$b")
    case "$kind" in
    *", stripped"*) echo "ok  /usr/bin/$b is stripped" ;;
    *) fail "/usr/bin/$b is not stripped: $kind" ;;
    esac
done
check "webhookd --version runs as webhookd" as_webhookd webhookd --version
if command -v systemd-analyze >/dev/null; then
    # The root has no systemd: the host's checks the installed unit, its
    # programs' paths pointed into the root. Unknown keys only print.
    sed "s|/usr/bin/|$root/usr/bin/|g" "$root/lib/systemd/system/webhookd.service" > "$work/webhookd.service"
    rc=0
    out=$(systemd-analyze verify --man=no "$work/webhookd.service" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ] || [ -n "$out" ]; then fail "systemd-analyze verify webhookd.service: $out"; fi
    echo "ok  systemd-analyze verify webhookd.service"
fi

step "as the webhookd user: a database, a target, an event, webhookd --drain"
as_webhookd webhookctl init || fail "webhookctl init failed as the webhookd user."
secret=$(as_webhookd webhookctl secret generate)
: > "$root/tmp/receiver.out"
start_as_webhookd "$root/tmp/receiver.out" webhook-receiver --host 127.0.0.1 --port 0 --quiet --secret "$secret"
for _ in $(seq 50); do grep -q listening "$root/tmp/receiver.out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$root/tmp/receiver.out")
[ -n "$port" ] || fail "webhook-receiver did not start: $(cat "$root/tmp/receiver.out")"
echo "webhook-receiver (packaged) listening on 127.0.0.1:$port"
as_webhookd webhookctl target add smoke --url "http://127.0.0.1:$port/smoke" --secret "$secret" >/dev/null ||
    fail "webhookctl target add failed."
as_webhookd webhookctl send package.smoke --data '{"ok":true}' >/dev/null || fail "webhookctl send failed."
as_webhookd timeout 60 webhookd --drain --allow-private-networks --listen off --poll-interval 100ms ||
    fail "webhookd --drain did not finish within 60 s."
status=$(as_webhookd webhookctl delivery list --json |
    /usr/bin/python3 -c 'import json,sys; print(" ".join(d["status"] for d in json.load(sys.stdin)))')
[ "$status" = delivered ] || fail "the delivery is '$status', not delivered."
echo "ok  the delivery is delivered (the receiver checked its signature)"

step "webhookd started as the unit starts it: /livez"
# The unit's ExecStart= with its environment as systemd would give it:
# Environment= first, /etc/default/webhookd over it; only the listen address
# is a free port. webhookd reads its settings from these WEBHOOKD_* variables.
unit="$root/lib/systemd/system/webhookd.service"
listen=127.0.0.1:$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
declare -A unit_env=()
while IFS='=' read -r key value; do
    unit_env[$key]=$value
done < <(sed -n 's/^Environment=//p' "$unit"; grep -E '^[A-Z_]+=' "$root/etc/default/webhookd")
unit_env[WEBHOOKD_LISTEN]=$listen
command=$(sed -n 's/^ExecStart=//p' "$unit")
for key in "${!unit_env[@]}"; do
    command=${command//"\${$key}"/${unit_env[$key]}}
done
[[ $command != *"\${"* ]] || fail "the unit's ExecStart= uses a variable it never sets: $command"
read -ra words <<<"$command"
assignments=()
for key in "${!unit_env[@]}"; do
    assignments+=("$key=${unit_env[$key]}")
done
words=(env "${assignments[@]}" "${words[@]}")
echo "\$ ${words[*]}"
start_as_webhookd "$work/webhookd.log" "${words[@]}"
webhookd_pid=${pids[-1]}
code=000
for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$listen/livez" || true)
    [ "$code" = 200 ] && break
    kill -0 "$webhookd_pid" 2>/dev/null || break
    sleep 0.1
done
[ "$code" = 200 ] || fail "webhookd's /livez answered $code, not 200 (log: $work/webhookd.log)."
echo "ok  GET http://$listen/livez answered 200"
kill -TERM "$webhookd_pid"
rc=0
wait "$webhookd_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "webhookd exited $rc on SIGTERM, not 0 (log: $work/webhookd.log)."
echo "ok  SIGTERM: webhookd exited 0"
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done

step "reinstall, remove, purge"
{ in_root dpkg -i "$package" && in_root apt-get remove -y -q webhookd &&
    in_root apt-get purge -y -q webhookd; } > "$work/remove.log" 2>&1 || {
    tail -n 20 "$work/remove.log" >&2
    fail "reinstalling, removing or purging the package failed (log: $work/remove.log)."
}
grep '^webhookd: kept' "$work/remove.log" || true
check "/usr/bin/webhookd is gone after remove" test ! -e "$root/usr/bin/webhookd"
check "/etc/default/webhookd is gone after purge" test ! -e "$root/etc/default/webhookd"
check "/var/lib/webhookd and its database are kept after purge" test -s "$root/var/lib/webhookd/webhooks.db"
check "the webhookd user is kept after purge" in_root getent passwd webhookd

cleanup
mounts=()
pids=()
echo "package smoke: passed ($(basename "$deb"), $(webhookd_duration $((SECONDS - started))))"

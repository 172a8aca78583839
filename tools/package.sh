#!/usr/bin/env bash
# Builds the Debian package of webhookd with dpkg-deb: a hardened release
# build in build-release/, the three programs stripped in /usr/bin (webhookd,
# webhookctl, and webhook-receiver for trying targets out), their man pages,
# bash and zsh completion, the systemd unit and /etc/default/webhookd from
# dist/debian/. Depends is worked out by dpkg-shlibdeps. Checks the result
# with lintian when it is installed. Prints the .deb's path last.
#
#   tools/package.sh            → build-release/webhookd_VERSION_ARCH.deb
#
# Maintainer: $DEBFULLNAME <$DEBEMAIL>, else git's user.name and user.email.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/setup.sh

fail() {
    echo "package.sh: $*" >&2
    exit 1
}

started=$SECONDS
# shellcheck disable=SC2086 # a list of words
webhookd_install $WEBHOOKD_BUILD_PACKAGES help2man dpkg-dev binutils file

dir=build-release
# Debian's hardening flags (stack protector, fortify, full RELRO, bind now);
# the optimisation level and -g stay meson's (release, and stripped anyway).
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cxxflags=$(echo "$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CXXFLAGS)" |
    tr ' ' '\n' | grep -v -e '^-g$' -e '^-O' | tr '\n' ' ')
ldflags=$(dpkg-buildflags --get LDFLAGS)
options=(-Dbuildtype=release -Db_ndebug=true -Dtests=false -Dbench=false -Dprefix=/usr
    "-Dcpp_args=$cxxflags" "-Dcpp_link_args=$ldflags")
echo "== configuring $dir"
if [ -f "$dir/build.ninja" ]; then
    # meson configure, then the regeneration it asks for, quietly.
    out=$({ meson configure "$dir" "${options[@]}" && ninja -C "$dir" build.ninja; } 2>&1) || {
        echo "$out" | tail -n 15 >&2
        fail "meson configure $dir failed (its output is above)."
    }
else
    out=$(meson setup "$dir" "${options[@]}" 2>&1) || {
        echo "$out" | tail -n 15 >&2
        fail "meson setup $dir failed (its output is above)."
    }
fi
version=$(meson introspect "$dir" --projectinfo | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)

echo "== building webhookd $version (release)"
ninja -C "$dir" src/apps/webhookd/webhookd src/apps/webhookctl/webhookctl tools/receiver/webhook-receiver \
    dist/webhookd.1 dist/webhookctl.1

echo "== staging the package's files"
root="$dir/deb"
rm -rf "$root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/lib/systemd/system" "$root/etc/default" "$root/usr/share/doc/webhookd"
for program in src/apps/webhookd/webhookd src/apps/webhookctl/webhookctl tools/receiver/webhook-receiver; do
    install -m 0755 "$dir/$program" "$root/usr/bin/"
    # As dh_strip does: no symbols, no compiler notes.
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/${program##*/}"
done
cp "$dir/dist/webhookd.1" "$dir/dist/webhookctl.1" "$root/usr/share/man/man1/"
help2man --no-info --no-discard-stderr --version-string "webhook-receiver $version" \
    --name "test receiver: answers webhooks, checks their signatures, scripts faults" \
    --output "$root/usr/share/man/man1/webhook-receiver.1" "$dir/tools/receiver/webhook-receiver" ||
    fail "help2man could not write webhook-receiver's man page."
install -m 0644 dist/completion/webhookctl.bash "$root/usr/share/bash-completion/completions/webhookctl"
install -m 0644 dist/completion/webhookctl.bash "$root/usr/share/bash-completion/completions/webhookd"
# Debian's zsh looks in vendor-completions (site-functions is for /usr/local).
install -m 0644 dist/completion/_webhookctl "$root/usr/share/zsh/vendor-completions/_webhookctl"
install -m 0644 dist/debian/webhookd.service "$root/lib/systemd/system/webhookd.service"
install -m 0644 dist/debian/default "$root/etc/default/webhookd"
install -m 0644 dist/debian/README.Debian dist/debian/copyright "$root/usr/share/doc/webhookd/"
install -m 0644 README.md "$root/usr/share/doc/webhookd/README.md"

# The package's unit keeps every sandboxing line of dist/webhookd.service.
sandboxing='^(DynamicUser|StateDirectory|UMask|NoNewPrivileges|Capability|Ambient|Protect|Private|Proc|Restrict|IPAddress|Lock|Memory|SystemCall|Limit)'
missing=$(grep -E "$sandboxing" dist/webhookd.service | grep -v '^DynamicUser=' |
    grep -vxF -f <(grep -E "$sandboxing" dist/debian/webhookd.service) || true)
[ -z "$missing" ] || fail "dist/debian/webhookd.service lacks these lines of dist/webhookd.service: $(echo "$missing" | tr '\n' ' ')"

# Dates from the last commit, so that the same tree gives the same package.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
maintainer="${DEBFULLNAME:-$(git config user.name || echo "webhookd maintainers")} <${DEBEMAIL:-$(git config user.email || echo "root@localhost")}>"
{
    echo "webhookd ($version) unstable; urgency=medium"
    echo
    echo "  * Release $version, packaged by tools/package.sh from $(git describe --always --dirty 2>/dev/null || echo "a source tree")."
    echo
    echo " -- $maintainer  $(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} > "$root/usr/share/doc/webhookd/changelog"
gzip -9n "$root/usr/share/man/man1/"*.1 "$root/usr/share/doc/webhookd/changelog" "$root/usr/share/doc/webhookd/README.md"

# Depends: dpkg-shlibdeps wants a debian/control to read, so it gets a minimal
# one in a scratch directory.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/debian"
printf 'Source: webhookd\n\nPackage: webhookd\nArchitecture: any\n' > "$scratch/debian/control"
binaries=("$PWD/$root/usr/bin/webhookd" "$PWD/$root/usr/bin/webhookctl" "$PWD/$root/usr/bin/webhook-receiver")
shlibs=$(cd "$scratch" && dpkg-shlibdeps -O "${binaries[@]}" 2>"$scratch/shlibdeps.err") || {
    cat "$scratch/shlibdeps.err" >&2
    fail "dpkg-shlibdeps could not work out the libraries' packages."
}
depends="${shlibs#shlibs:Depends=}, adduser"

cat > "$root/DEBIAN/control" <<EOF
Package: webhookd
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: net
Priority: optional
Description: durable webhook delivery worker with an SQLite history
 webhookd delivers events as signed HTTP POSTs (Standard Webhooks) to
 registered targets: it retries with backoff, honours Retry-After, rate-limits
 each target, parks what cannot be delivered in a dead-letter queue, and keeps
 every attempt in one SQLite file (or PostgreSQL). webhookctl manages targets,
 events, deliveries and API keys; webhook-receiver is a local receiver that
 checks signatures, for trying targets out.
 .
 The package runs webhookd as the webhookd user under systemd, with its
 database in /var/lib/webhookd and its settings in /etc/default/webhookd.
EOF
echo /etc/default/webhookd > "$root/DEBIAN/conffiles"
install -m 0755 dist/debian/postinst dist/debian/prerm dist/debian/postrm "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +

deb="$dir/webhookd_${version}_${arch}.deb"
echo "== dpkg-deb --build"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null || fail "dpkg-deb could not build $deb."

if command -v lintian >/dev/null; then
    echo "== lintian"
    # Errors fail the build; warnings are shown. (Its advice against root is
    # about unpacking untrusted packages, not this one.)
    rc=0
    out=$(lintian --tag-display-limit 0 "$deb" 2>&1) || rc=$?
    grep -v '^running with root privileges' <<<"$out" || echo "no errors or warnings"
    [ "$rc" -eq 0 ] || fail "lintian found errors in $deb (listed above)."
else
    echo "(lintian is not installed: apt-get install lintian to check the package)"
fi

echo "== $deb"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print "  " $1 "  " $6 }'
echo "Depends: $depends"
echo "package built in $(webhookd_duration $((SECONDS - started))): $deb"

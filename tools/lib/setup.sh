# Shared by tools/test.sh, tools/quickstart.sh and tools/bench: installs the
# Debian packages webhookd builds with (only those missing), configures meson
# and builds. Sourced, not run.

WEBHOOKD_PACKAGES="meson ninja-build g++ pkg-config cmake python3 sqlite3 curl procps openssl
  libsqlite3-dev libsqlitecpp-dev libpq-dev postgresql-15 libcurl4-openssl-dev libssl-dev libfmt-dev doctest-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libexpected-dev help2man faketime
  python3-jsonschema chromium chromium-driver python3-selenium"

webhookd_install_packages() {
    local missing=""
    for p in $WEBHOOKD_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# webhookd_promtool DIR: prints the path of Prometheus' promtool, fetched from
# Debian's prometheus package and unpacked into DIR (not installed: the
# package would start a Prometheus server). Prints nothing if it cannot be had;
# the metrics test then relies on its own strict parser.
webhookd_promtool() {
    local dir="$1"
    if command -v promtool >/dev/null 2>&1; then
        command -v promtool
        return 0
    fi
    if [ ! -x "$dir/usr/bin/promtool" ]; then
        mkdir -p "$dir"
        (cd "$dir" && rm -f prometheus_*.deb && apt-get download prometheus >/dev/null 2>&1 &&
            dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb usr/bin/prometheus) || true
    fi
    [ -x "$dir/usr/bin/promtool" ] && echo "$(cd "$dir" && pwd)/usr/bin/promtool"
    return 0
}

# webhookd_build BUILD_DIR [meson options...]
webhookd_build() {
    local dir="$1"
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" --buildtype=debugoptimized -Dwerror=true "$@" >/dev/null
    fi
    ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

# Shared by tools/test.sh, tools/quickstart.sh, tools/package.sh and
# tools/bench: installs the Debian packages webhookd builds with (only those
# missing), configures meson and builds. Sourced, not run.

# What `meson setup` (default options, tests included: doctest is only headers)
# and the compiler need.
WEBHOOKD_BUILD_PACKAGES="meson ninja-build g++ pkg-config cmake python3
  libsqlite3-dev libsqlitecpp-dev libpq-dev libcurl4-openssl-dev libssl-dev libfmt-dev doctest-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libexpected-dev"
# What tools/quickstart.sh runs beside the programs (curl for the API, sqlite3
# for the SQL it suggests).
WEBHOOKD_DEMO_PACKAGES="curl sqlite3"
# What the test suite and the benchmark need on top: man pages (built by
# default), PostgreSQL, a fake clock, a browser for the dashboard tests.
WEBHOOKD_TEST_PACKAGES="help2man procps openssl postgresql-15 faketime
  python3-jsonschema chromium chromium-driver python3-selenium"
WEBHOOKD_PACKAGES="$WEBHOOKD_BUILD_PACKAGES $WEBHOOKD_DEMO_PACKAGES $WEBHOOKD_TEST_PACKAGES"

# webhookd_install_packages [PACKAGE...]: everything the tests and the
# benchmark need, plus the packages named.
webhookd_install_packages() {
    # shellcheck disable=SC2086 # a list of words
    webhookd_install $WEBHOOKD_PACKAGES "$@"
}

# webhookd_install PACKAGE...: installs those of the packages that are missing,
# showing apt-get's progress as one status line on a terminal.
webhookd_install() {
    local missing="" p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    local sudo="" log
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    log=$(mktemp)
    # shellcheck disable=SC2086 # $missing is a list of words
    if ! { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
            --no-install-recommends $missing; } 2>&1 | tee "$log" | webhookd_status_line; then
        [ -t 2 ] && tail -n 15 "$log" >&2
        rm -f "$log"
        echo "apt-get could not install:$missing (its output is above)." >&2
        return 1
    fi
    rm -f "$log"
}

# Reads lines from stdin. On a terminal (stderr) shows only the latest, as one
# line that keeps being rewritten and is cleared at the end; elsewhere (a log,
# CI) passes every line through to stderr.
webhookd_status_line() {
    if [ -t 2 ]; then
        local cols line
        cols=$(($(tput cols 2>/dev/null || echo 80) - 1))
        while IFS= read -r line; do
            printf '\r\033[K%s' "${line:0:cols}" >&2
        done
        printf '\r\033[K' >&2
    else
        cat >&2
    fi
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

# webhookd_configure BUILD_DIR [meson options...]: meson setup, once.
webhookd_configure() {
    local dir="$1"
    shift
    [ -f "$dir/build.ninja" ] && return 0
    local out
    if ! out=$(meson setup "$dir" --buildtype=debugoptimized -Dwerror=true "$@" 2>&1); then
        printf '%s\n' "$out" | tail -n 15 >&2
        echo "meson setup $dir failed (its output is above)." >&2
        return 1
    fi
}

# webhookd_build BUILD_DIR [meson options...]: configures and builds everything,
# printing the compiler's output only if it fails.
webhookd_build() {
    webhookd_configure "$@"
    ninja -C "$1" >/dev/null || ninja -C "$1"
}

# webhookd_duration SECONDS: "47s", "3m05s".
webhookd_duration() {
    if [ "$1" -ge 60 ]; then
        printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
    else
        printf '%ds' "$1"
    fi
}

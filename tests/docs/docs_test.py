#!/usr/bin/env python3
"""The documentation's own test (meson test docs).

1. Links. Every relative link and image of README.md and docs/*.md names a
   file that exists, and every #anchor a heading of that page (GitHub's slugs).
   Every sh block, runnable or not, is valid bash (bash -n). README.md stays
   a front page of at most 250 lines.
2. Runnable blocks. Every fenced block whose info string is "sh runnable"
   runs with bash -euo pipefail ("sql runnable": its statements in the sqlite3
   shell on the page's store, stopping at the first error), in order, one page
   after another: each page
   in a fresh temporary directory with WEBHOOKD_DB=<that directory>/webhooks.db,
   PATH starting with the build's webhookd, webhookctl and webhook-receiver,
   and no other WEBHOOKD_*/WEBHOOK_* variable. The blocks of one page share
   that directory and store. Each block runs in a network namespace of its own
   where unshare(1) allows it (as root), so the fixed ports the pages use
   (9000, 8080, 9464) never meet another test's; elsewhere on the host's
   loopback. A block must stop what it starts: a process still running a few
   seconds after its block ended fails the test (and is killed), and every
   process group is killed at the end of each page anyway.
3. The OpenAPI client. docs/api.md's "ts runnable" block, with the
   openapi-typescript and tsc command lines of that page, against types
   generated from src/api/openapi.json: npm installs openapi-typescript@7,
   openapi-fetch@0.17, typescript@5 and @types/node@20 once into
   <build>/docs-client (no install when they are there); the code is
   type-checked (tsc --noEmit), copies with a mistake in a request body, an
   answer's field or a path must fail the type check, and the compiled
   JavaScript runs with node against a real
   `webhookd --no-deliver --api-listen 127.0.0.1:0` with a key from
   `webhookctl api-key create`; the store is then read back with webhookctl.
   Without node and npm, or when npm cannot install, this case is skipped
   (said so on stdout and in the summary line).

Prints "ok - ..." / "not ok - ..." per check and a last line
"test cases: N | N passed | N failed | N skipped" (read by tools/test.sh);
exits 1 when anything failed.

Environment (set by tests/meson.build): WEBHOOKD_SOURCE_ROOT,
WEBHOOKD_BUILD_ROOT, WEBHOOKD_BIN_WEBHOOKD, WEBHOOKD_BIN_WEBHOOKCTL,
WEBHOOKD_BIN_RECEIVER. Arguments: page paths, to check only those pages.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("WEBHOOKD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("WEBHOOKD_BUILD_ROOT") or os.path.join(ROOT, "build")
BINS = {
    "webhookd": os.environ.get("WEBHOOKD_BIN_WEBHOOKD") or os.path.join(BUILD, "src/apps/webhookd/webhookd"),
    "webhookctl": os.environ.get("WEBHOOKD_BIN_WEBHOOKCTL") or os.path.join(BUILD, "src/apps/webhookctl/webhookctl"),
    "webhook-receiver": os.environ.get("WEBHOOKD_BIN_RECEIVER") or os.path.join(BUILD, "tools/receiver/webhook-receiver"),
}
README_MAX_LINES = 250
BLOCK_TIMEOUT_S = 120
LEFTOVER_GRACE_S = 12  # webhookd's --shutdown-grace is 10 s
NPM_PACKAGES = ["openapi-typescript@7", "openapi-fetch@0.17", "typescript@5", "@types/node@20"]

results = {"passed": 0, "failed": 0, "skipped": 0}


def report(ok, what, why=""):
    results["passed" if ok else "failed"] += 1
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if not ok and why:
        print("    " + why.rstrip().replace("\n", "\n    "), flush=True)
    return ok


def skip(what, why):
    results["skipped"] += 1
    print(f"skip - {what}: {why}", flush=True)


def rel(path):
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------- markdown

FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")


class Page:
    """A Markdown page: its fenced blocks, headings' anchors and links (the
    last two outside fences only)."""

    def __init__(self, path):
        self.path = path
        self.lines = open(path, encoding="utf-8").read().split("\n")
        self.blocks = []   # (line of the opening fence, info string, text)
        self.anchors = set()
        self.links = []    # (line, target)
        seen = {}
        fence = None
        paragraph = []  # (line number, text) of the lines outside fences since the last blank one
        for n, line in enumerate(self.lines + [""], start=1):
            m = FENCE.match(line)
            if fence:
                if m and m.group(2)[0] == fence[0][0] and len(m.group(2)) >= len(fence[0]) and not m.group(3).strip():
                    self.blocks.append((fence[1], fence[2], "\n".join(fence[3]) + "\n"))
                    fence = None
                else:
                    fence[3].append(line[len(fence[4]):] if line.startswith(fence[4]) else line.lstrip(" "))
                continue
            if m or not line.strip():
                self._links(paragraph)
                paragraph = []
                if m:
                    fence = (m.group(2), n, m.group(3).strip(), [], m.group(1))
                continue
            h = re.match(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if h:
                base = slug(h.group(2))
                k = seen.get(base, 0)
                seen[base] = k + 1
                self.anchors.add(base if k == 0 else f"{base}-{k}")
            paragraph.append((n, line))
        if fence:
            self.unclosed = fence[1]
        else:
            self.unclosed = None


    def _links(self, paragraph):
        """Links of a paragraph, whose text may wrap across lines; none inside code spans."""
        if not paragraph:
            return
        first = paragraph[0][0]
        text = "\n".join(line for _, line in paragraph)
        # A code span opens with a run of backticks and closes with a run as long.
        text = re.sub(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", lambda c: re.sub(r"[^\n]", " ", c.group(0)), text,
                      flags=re.S)
        for lm in re.finditer(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text):
            self.links.append((first + text.count("\n", 0, lm.start(1)), lm.group(1)))
        for rm in re.finditer(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", text, re.M):
            self.links.append((first + text.count("\n", 0, rm.start(1)), rm.group(1)))


def slug(heading):
    """GitHub's anchor for a heading: its text as rendered (code spans keep
    their content, links their text, no HTML), lower-cased, without
    punctuation but '-' and '_', spaces as '-'."""
    t = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    t = re.sub(r"<[^>]+>", "", t).replace("`", "")
    t = t.lower()
    t = re.sub(r"[^\w\- ]", "", t)
    return t.replace(" ", "-")


def check_links(pages):
    cache = {p.path: p for p in pages}
    for page in pages:
        bad = []
        for n, target in page.links:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
                continue  # http:, https:, mailto:: outside this repository
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(page.path), path)) if path else page.path
            if not os.path.exists(dest):
                bad.append(f"{rel(page.path)}:{n}: {target}: there is no {rel(dest)}")
                continue
            if anchor:
                if not dest.endswith(".md"):
                    bad.append(f"{rel(page.path)}:{n}: {target}: an anchor into a file that is not Markdown")
                    continue
                other = cache.get(dest) or Page(dest)
                cache[dest] = other
                if anchor not in other.anchors:
                    bad.append(f"{rel(page.path)}:{n}: {target}: {rel(dest)} has no heading #{anchor}")
        if page.unclosed:
            bad.append(f"{rel(page.path)}:{page.unclosed}: a code fence that is never closed")
        report(not bad, f"{rel(page.path)}: {len(page.links)} links and anchors resolve", "\n".join(bad))


def check_shell_syntax(pages):
    """Every sh block, runnable or not, is valid bash (bash -n)."""
    for page in pages:
        bad = []
        count = 0
        for n, info, text in page.blocks:
            if info.split()[:1] not in (["sh"], ["bash"]):
                continue
            count += 1
            r = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
            if r.returncode != 0:
                bad.append(f"{rel(page.path)}:{n}: {r.stderr.strip()}")
        if count:
            report(not bad, f"{rel(page.path)}: {count} sh blocks are valid bash", "\n".join(bad))


# ---------------------------------------------------------------- runnable blocks

def is_runnable(info, langs):
    words = info.split()
    return len(words) >= 2 and words[0] in langs and "runnable" in words[1:]


def clean_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOKD_", "WEBHOOK_"))}
    dirs = []
    for path in BINS.values():
        d = os.path.dirname(os.path.abspath(path))
        if d not in dirs:
            dirs.append(d)
    env["PATH"] = ":".join(dirs + [env.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
    env.update(extra)
    return env


def netns_wrapper():
    """argv that runs the rest in a new network namespace with loopback up,
    or [] where that is not allowed."""
    ip = shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)
    unshare = shutil.which("unshare")
    if not ip or not unshare:
        return []
    argv = [unshare, "--net", "--", "/bin/sh", "-c", f'{shlex.quote(ip)} link set lo up && exec "$@"', "netns"]
    try:
        ok = subprocess.run(argv + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return argv if ok else []


def group_members(pgid):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
                out.append(f"{pid} {cmd}")
        except (OSError, IndexError, ValueError):
            continue
    return out


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# The first line of every block's script: names the block's line that failed.
ERR_TRAP = """set -E; trap 'rc=$?; echo "docs_test: line $((LINENO - 1)) of the block failed (exit $rc)" >&2' ERR"""


def run_page_blocks(page, wrapper):
    blocks = []
    for n, info, text in page.blocks:
        if is_runnable(info, ("sh", "bash")):
            blocks.append((n, text))
        elif is_runnable(info, ("sql",)):
            # SQL runs in the sqlite3 shell against the page's store; the
            # first error stops it (and fails the block).
            blocks.append((n, "sqlite3 -bail -header -column \"$WEBHOOKD_DB\" <<'DOCS_TEST_SQL'\n" + text + "DOCS_TEST_SQL\n"))
    if not blocks:
        return
    work = tempfile.mkdtemp(prefix="webhookd-docs-")
    scripts = tempfile.mkdtemp(prefix="webhookd-docs-blocks-")
    env = clean_env({"WEBHOOKD_DB": os.path.join(work, "webhooks.db"), "HOME": os.environ.get("HOME", work)})
    groups = []
    started = time.monotonic()
    failed = False
    try:
        for i, (n, text) in enumerate(blocks, start=1):
            where = f"{rel(page.path)}:{n}"
            if failed:
                skip(f"{where}: block {i} of {len(blocks)}", "an earlier block of the page failed")
                continue
            script = os.path.join(scripts, f"block-{i}.sh")
            with open(script, "w", encoding="utf-8") as f:
                f.write(ERR_TRAP + "\n" + text)
            t0 = time.monotonic()
            # Output to a file, not a pipe: a process the block left running
            # would hold a pipe open, and the block would seem never to end.
            with open(script + ".out", "w+b") as log:
                p = subprocess.Popen(wrapper + ["bash", "-euo", "pipefail", script], cwd=work, env=env,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
                groups.append(p.pid)
                try:
                    code = p.wait(timeout=BLOCK_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    kill_group(p.pid)
                    p.wait()
                    code = f"killed after {BLOCK_TIMEOUT_S} s"
                log.seek(0)
                out = log.read().decode("utf-8", errors="replace")
            left = []
            deadline = time.monotonic() + (LEFTOVER_GRACE_S if code == 0 else 0)
            while True:
                left = group_members(p.pid)
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            kill_group(p.pid)
            took = time.monotonic() - t0
            if code != 0:
                m = re.findall(r"docs_test: line (\d+) of the block", out)
                line = f" at {rel(page.path)}:{n + int(m[-1])}" if m else ""
                failed = not report(False, f"{where}: block {i} of {len(blocks)} ran ({took:.1f} s)",
                                    f"exit {code}{line}; output:\n" + "\n".join(out.splitlines()[-40:]))
            elif left:
                failed = not report(False, f"{where}: block {i} of {len(blocks)} stopped what it started",
                                    "still running after the block ended (killed now):\n" + "\n".join(left))
            else:
                report(True, f"{where}: block {i} of {len(blocks)} ran ({took:.1f} s)")
    finally:
        for g in groups:
            kill_group(g)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scripts, ignore_errors=True)
    print(f"# {rel(page.path)}: {len(blocks)} runnable blocks in {time.monotonic() - started:.1f} s", flush=True)


# ---------------------------------------------------------------- the OpenAPI client

def npm_ready(cache):
    """Installs NPM_PACKAGES into cache unless their majors are there already.
    Returns (ok, why)."""
    def have():
        for spec in NPM_PACKAGES:
            name, _, want = spec.rpartition("@")
            try:
                version = json.load(open(os.path.join(cache, "node_modules", name, "package.json")))["version"]
            except (OSError, ValueError, KeyError):
                return False
            if version.split(".")[:len(want.split("."))] != want.split("."):
                return False
        return True
    if have():
        return True, ""
    os.makedirs(cache, exist_ok=True)
    pkg = os.path.join(cache, "package.json")
    if not os.path.exists(pkg):
        with open(pkg, "w") as f:
            f.write('{"private": true, "type": "module"}\n')
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-update-notifier", *NPM_PACKAGES],
                       cwd=cache, capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or not have():
        return False, "npm install failed: " + (r.stderr or r.stdout).strip()[-800:]
    return True, ""


def installed_versions(cache):
    out = []
    for spec in NPM_PACKAGES:
        name = spec.rpartition("@")[0]
        try:
            out.append(name + "@" + json.load(open(os.path.join(cache, "node_modules", name, "package.json")))["version"])
        except (OSError, ValueError, KeyError):
            out.append(name + "@?")
    return ", ".join(out)


def command_after(page, program):
    """The words after `npx PROGRAM` on the one line of the page's sh blocks that runs it."""
    found = []
    for _, info, text in page.blocks:
        if info.split()[:1] not in (["sh"], ["bash"]):
            continue
        for line in text.splitlines():
            if f"npx {program}" not in line:
                continue
            words = shlex.split(line, comments=True)
            if words[:2] == ["npx", program]:
                found.append(words[2:])
    if len(found) != 1:
        raise AssertionError(f"{rel(page.path)} should run `npx {program}` exactly once, not {len(found)} times")
    return found[0]


def client_test(pages):
    what = "docs/api.md: the generated TypeScript client type-checks and runs against webhookd"
    page = next((p for p in pages if rel(p.path) == os.path.join("docs", "api.md")), None)
    if page is None:
        return
    blocks = [text for _, info, text in page.blocks if is_runnable(info, ("ts", "typescript"))]
    if len(blocks) != 1:
        report(False, what, f"docs/api.md should have one ```ts runnable block, not {len(blocks)}")
        return
    code = blocks[0]
    if not shutil.which("node") or not shutil.which("npm"):
        skip(what, "node and npm are not installed (apt-get install nodejs npm)")
        return
    cache = os.path.join(BUILD, "docs-client")
    t0 = time.monotonic()
    try:
        ok, why = npm_ready(cache)
    except subprocess.TimeoutExpired:
        ok, why = False, "npm install took longer than 10 minutes"
    if not ok:
        skip(what, why)
        return
    print(f"# npm packages: {installed_versions(cache)} ({time.monotonic() - t0:.1f} s to have them)", flush=True)
    try:
        gen_args = command_after(page, "openapi-typescript")
        tsc_args = command_after(page, "tsc")
    except AssertionError as e:
        report(False, what, str(e))
        return
    bin_dir = os.path.join(cache, "node_modules", ".bin")
    work = tempfile.mkdtemp(prefix="work-", dir=cache)
    tmp = tempfile.mkdtemp(prefix="webhookd-docs-client-")
    api = None
    try:
        with open(os.path.join(work, "package.json"), "w") as f:
            f.write('{"private": true, "type": "module"}\n')
        with open(os.path.join(work, "client.ts"), "w") as f:
            f.write(code)

        def run(argv, **kw):
            return subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=180, **kw)

        # The page's generator line, its input (the served document's URL) replaced by the source file.
        spec = os.path.join(ROOT, "src", "api", "openapi.json")
        r = run([os.path.join(bin_dir, "openapi-typescript"), spec] + gen_args[1:])
        if not report(r.returncode == 0, "openapi-typescript generates types from src/api/openapi.json "
                      f"({' '.join(gen_args[1:])})", r.stdout + r.stderr):
            return
        # The page's tsc line: type-check only first, then compile to client.js.
        files = [a for a in tsc_args if a.endswith(".ts")]
        flags = [a for a in tsc_args if not a.endswith(".ts")]
        if files != ["client.ts"]:
            report(False, what, f"the page's tsc line should compile client.ts, not {files}")
            return
        r = run([os.path.join(bin_dir, "tsc"), "--noEmit"] + flags + files)
        if not report(r.returncode == 0, f"tsc --noEmit {' '.join(flags)} client.ts: the page's client type-checks",
                      r.stdout + r.stderr):
            return
        # The generated types constrain the code: a request body without a
        # required field, a field the answer lacks and a path the API lacks
        # must each fail the type check. (A misspelt optional field of a
        # body is not caught: openapi-fetch 0.17's body type escapes
        # TypeScript's excess-property check.)
        mistakes = [("a target without its url", 'url: "https://orders', 'uri: "https://orders'),
                    ("a field the answer lacks", "target.data.url", "target.data.uri"),
                    ("a path the API lacks", '"/events/{uid}"', '"/event/{uid}"')]
        names = []
        for i, (what_wrong, right, wrong) in enumerate(mistakes, start=1):
            if right not in code:
                report(False, f"the client has {right!r} to misspell", "docs/api.md's client changed: update this test")
                return
            names.append(f"mistake{i}.ts")
            with open(os.path.join(work, names[-1]), "w") as f:
                f.write(code.replace(right, wrong, 1))
        r = run([os.path.join(bin_dir, "tsc"), "--noEmit"] + flags + names)  # one run: each file must fail
        for name, (what_wrong, _, wrong) in zip(names, mistakes):
            report(re.search(rf"^{re.escape(name)}\(\d+,\d+\): error TS", r.stdout, re.M) is not None,
                   f"tsc refuses the client with {what_wrong} ({wrong})", r.stdout + r.stderr)
            os.unlink(os.path.join(work, name))
        r = run([os.path.join(bin_dir, "tsc")] + flags + files)
        if not report(r.returncode == 0 and os.path.exists(os.path.join(work, "client.js")),
                      "tsc compiles the client to client.js", r.stdout + r.stderr):
            return

        # A real webhookd serving the API on a fresh store, and a key for the client.
        env = clean_env({"WEBHOOKD_DB": os.path.join(tmp, "webhooks.db")})
        ctl = [BINS["webhookctl"]]
        r = subprocess.run(ctl + ["init"], env=env, capture_output=True, text=True)
        if not report(r.returncode == 0, "webhookctl init", r.stderr):
            return
        r = subprocess.run(ctl + ["api-key", "create", "docs-client", "--scope", "manage", "--scope", "events:write"],
                           env=env, capture_output=True, text=True)
        token = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if not report(r.returncode == 0 and token.startswith("whk_"), "webhookctl api-key create prints the token last",
                      r.stdout + r.stderr):
            return
        log = open(os.path.join(tmp, "webhookd.log"), "w+")
        api = subprocess.Popen([BINS["webhookd"], "--no-deliver", "--listen", "off", "--api-listen", "127.0.0.1:0"],
                               env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
        address = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and api.poll() is None:
            m = re.search(r"api listening address=(\S+)", open(log.name).read())
            if m:
                address = m.group(1)
                break
            time.sleep(0.05)
        if not report(address is not None, "webhookd --no-deliver --api-listen 127.0.0.1:0 says where it listens",
                      open(log.name).read()):
            return
        r = subprocess.run(["node", "client.js"], cwd=work, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, WEBHOOKD_URL=f"http://{address}", WEBHOOKD_TOKEN=token))
        if not report(r.returncode == 0, "node client.js runs against it", r.stdout + r.stderr):
            return
        print("    " + r.stdout.strip().replace("\n", "\n    "), flush=True)

        # What the client did, read back with webhookctl.
        def ctl_json(*args):
            out = subprocess.run(ctl + ["--json", *args], env=env, capture_output=True, text=True, check=True).stdout
            return json.loads(out)
        target = ctl_json("target", "show", "orders")
        report(target.get("url") == "https://orders.example.com/hooks" and target.get("event_filters") == ["order.*"],
               "the store holds the target the client created", json.dumps(target)[:400])
        deliveries = ctl_json("delivery", "list")
        uid = deliveries[0]["event_uid"] if len(deliveries) == 1 else None
        report(len(deliveries) == 1 and deliveries[0]["target_id"] == "orders" and deliveries[0]["type"] == "order.paid",
               "the store holds its event, with one delivery to that target", json.dumps(deliveries)[:400])
        report(uid is not None and f"event {uid}" in r.stdout,
               "the client printed the id the store gave the event", r.stdout)
    finally:
        if api is not None:
            if api.poll() is None:
                api.send_signal(signal.SIGTERM)
            try:
                api.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_group(api.pid)
                api.wait()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    t0 = time.monotonic()
    if len(sys.argv) > 1:
        paths = [os.path.abspath(p) for p in sys.argv[1:]]
    else:
        docs = os.path.join(ROOT, "docs")
        paths = [os.path.join(ROOT, "README.md")] + sorted(
            os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    pages = [Page(p) for p in paths]
    for name, path in BINS.items():
        if not os.access(path, os.X_OK):
            report(False, f"{name} is built", f"there is no program {path}")
            break
    else:
        check_links(pages)
        check_shell_syntax(pages)
        readme = next((p for p in pages if rel(p.path) == "README.md"), None)
        if readme:
            lines = len(open(readme.path, encoding="utf-8").read().splitlines())
            report(lines <= README_MAX_LINES, f"README.md stays a front page: {lines} lines (at most {README_MAX_LINES})",
                   "move the detail to a page of docs/")
        wrapper = netns_wrapper()
        print("# runnable blocks run " + ("each in a network namespace of its own" if wrapper
                                          else "on this host's loopback (unshare is not allowed here)"), flush=True)
        for page in pages:
            run_page_blocks(page, wrapper)
        client_test(pages)
    total = sum(results.values())
    print(f"# {time.monotonic() - t0:.1f} s in all")
    print(f"test cases: {total} | {results['passed']} passed | {results['failed']} failed | {results['skipped']} skipped")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

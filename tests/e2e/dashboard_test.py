#!/usr/bin/env python3
"""The dashboard in a real headless browser (Debian's chromium, chromium-driver
and python3-selenium, so /usr/bin/python3).

Seeds a fresh database through webhookctl (targets answering 200, a 500 then
200, a 400 then 200; a hostile payload), runs a webhook-receiver and webhookd
with --api-listen, lets the deliveries settle, then signs in with a key and
checks every page: the overview's charts and queue depth, the deliveries list
and its filter, one delivery with a failed attempt and its response excerpt,
the hostile payload shown as text, retrying a dead letter until it is
delivered, the targets, a read-only key without buttons, a refused key, a
phone-width and a 1080p window. Screenshots go to WEBHOOKD_SCREENSHOTS
(default build/dashboard-screenshots). Prints ok / not ok; exits 1 on any
failure.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

from proc import Proc, Store
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.environ.get("WEBHOOKD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOTS = os.environ.get("WEBHOOKD_SCREENSHOTS") or os.path.join(ROOT, "build", "dashboard-screenshots")
HOSTILE = '<img src=x onerror="window.__pwned=1">'
failures = 0


def report(ok, what, why=""):
    global failures
    if ok:
        print(f"ok - {what}")
    else:
        failures += 1
        print(f"not ok - {what}" + (f": {why}" if why else ""))
    sys.stdout.flush()
    return ok


def api(base, token, path, method="GET", body=None):
    req = urllib.request.Request(base + "/api/v1" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def wait_until(fn, timeout=20, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001: not there yet
            wait_until.last = e
        time.sleep(step)
    return None


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--no-first-run", "--disable-extensions"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def scenario(d, base, keys, ids):
    wait = WebDriverWait(d, 15)
    css = lambda sel: d.find_elements(By.CSS_SELECTOR, sel)  # noqa: E731
    shot = lambda name: d.save_screenshot(os.path.join(SHOTS, name + ".png"))  # noqa: E731

    def go(hash_, ready):
        d.get(base + "/" + hash_)
        return wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ready)))

    # A refused key: one sentence, still on the sign-in form.
    d.get(base + "/")
    wait.until(EC.presence_of_element_located((By.ID, "api-key"))).send_keys("whk_key_nope_nope")
    d.find_element(By.ID, "sign-in").click()
    msg = wait_until(lambda: d.find_element(By.ID, "login-error").text)
    report(bool(msg) and css("#api-key"), "a refused key shows the server's sentence on the sign-in form", msg or "")

    # Sign in with the admin key.
    d.find_element(By.ID, "api-key").clear()
    d.find_element(By.ID, "api-key").send_keys(keys["admin"])
    d.find_element(By.ID, "sign-in").click()
    wait.until(EC.presence_of_element_located((By.ID, "queue-depth")))
    stored = d.execute_script("return sessionStorage.getItem('webhookd.api_key')")
    report(stored == keys["admin"], "the key is kept in sessionStorage under webhookd.api_key")
    report(d.get_cookies() == [], "no cookies", str(d.get_cookies()))

    # Overview: queue depth tiles, charts drawn from the rollup, attention list.
    wait_until(lambda: css("svg[data-chart=attempts] rect"))
    tiles = {t.get_attribute("data-status"): t.find_element(By.TAG_NAME, "b").text for t in css("#queue-depth .tile")}
    report(tiles.get("delivered", "0") not in ("0", "") and tiles.get("dead_letter") == "1",
           "the overview's queue depth counts the delivered and the one dead letter", str(tiles))
    bars = css("svg[data-chart=attempts] rect")
    kinds = {b.get_attribute("data-kind") for b in bars}
    report(len(bars) >= 1 and {"delivered", "failed", "dead_lettered"} <= kinds,
           "the attempts chart has bars for delivered, failed and dead-lettered attempts", str(kinds))
    report(len(css("svg[data-chart=latency] circle")) >= 2, "the latency chart draws its p50/p95 points")
    attention = d.find_element(By.ID, "attention").text
    report("t-off" in attention and "disabled" in attention, "the disabled target is listed as needing attention", attention)
    shot("overview")

    # Deliveries: rows with status words; the filter; paging.
    go("#/deliveries", "#deliveries tbody tr[data-id]")
    rows = css("#deliveries tbody tr[data-id]")
    words = {r.find_element(By.CSS_SELECTOR, ".status").text for r in rows}
    report(len(rows) == 50 and "delivered" in words, "the deliveries page lists 50, with status words", str(words))
    report(bool(css("#older")), "a full page offers older ones")
    first_ids = [r.get_attribute("data-id") for r in rows]
    d.find_element(By.ID, "older").click()
    wait_until(lambda: css("#deliveries tbody tr[data-id]") and
               css("#deliveries tbody tr[data-id]")[0].get_attribute("data-id") not in first_ids)
    older_ids = [r.get_attribute("data-id") for r in css("#deliveries tbody tr[data-id]")]
    report(older_ids and not set(older_ids) & set(first_ids) and max(map(int, older_ids)) < min(map(int, first_ids)),
           "'Older' shows the next page through the API's iterator", f"{len(older_ids)} rows")
    d.find_element(By.ID, "newer").click()
    wait_until(lambda: [r.get_attribute("data-id") for r in css("#deliveries tbody tr[data-id]")] == first_ids)
    report([r.get_attribute("data-id") for r in css("#deliveries tbody tr[data-id]")] == first_ids, "'Newer' goes back")
    go("#/deliveries", "form.filters")
    from selenium.webdriver.support.ui import Select
    Select(d.find_element(By.CSS_SELECTOR, "select[name=status]")).select_by_value("dead_letter")
    d.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait_until(lambda: "status=dead_letter" in d.current_url and len(css("#deliveries tbody tr[data-id]")) == 1)
    rows = css("#deliveries tbody tr[data-id]")
    report(len(rows) == 1 and rows[0].get_attribute("data-id") == str(ids["reject"]),
           "filtering by status dead_letter finds the rejected delivery", str(len(rows)))
    go("#/deliveries?status=delivered&target_id=t-ok", "#deliveries")
    shot("deliveries")

    # One delivery with a failed attempt: its response excerpt, as text.
    go(f"#/deliveries/{ids['flaky']}", "#attempts")
    attempts = css("#attempts .attempt")
    excerpts = [a.find_element(By.CSS_SELECTOR, ".excerpt").text for a in attempts]
    report(len(attempts) == 2 and "HTTP 500" in attempts[-1].text,
           "the flaky delivery shows both attempts, the first answered 500", " / ".join(a.text[:60] for a in attempts))
    report(any("<img" in e and "<script" in e for e in excerpts) and not css("#attempts .excerpt *"),
           "the 500's HTML response excerpt is shown as text, not rendered", excerpts[-1][:80] if excerpts else "")
    if attempts:
        d.execute_script("arguments[0].scrollIntoView()", attempts[-1])
    shot("delivery-failed-attempt")

    # The hostile payload: text in a <pre>, no element, no script run.
    go(f"#/deliveries/{ids['hostile']}", "#payload")
    payload = d.find_element(By.ID, "payload")
    report(HOSTILE.replace('"', '\\"') in payload.text or HOSTILE in payload.text,
           "the hostile payload is shown as text", payload.text[:80])
    report(not css("#payload img") and not css("main img"), "no <img> was made from it")
    report(d.execute_script("return window.__pwned === undefined"), "its onerror never ran")
    shot("delivery-hostile-payload")

    # Dead letters: retry one, then see it delivered.
    go("#/dead-letters", "#dead-letters")
    retry = wait_until(lambda: css(f"#dead-letters tr[data-id='{ids['reject']}'] .retry-one"))
    shot("dead-letters")
    report(bool(retry), "the dead letter has a Retry button")
    if retry:
        retry[0].click()
        done = wait_until(lambda: api(base, keys["admin"], f"/deliveries/{ids['reject']}")["status"] == "delivered", timeout=20)
        report(bool(done), "retrying it from the dashboard gets it delivered")
        go(f"#/deliveries/{ids['reject']}", "#delivery")
        report("delivered" in d.find_element(By.ID, "delivery").text, "its page then says delivered")
    go("#/dead-letters", "#dead-letters")
    report("empty" in d.find_element(By.ID, "dead-letters").text, "the dead-letter queue is then empty")

    # Ordering: a waiting delivery says what it waits behind; its blocking
    # dead letter can release the group.
    for name, type_ in (("blocker", "ordered.one"), ("blocked", "ordered.two")):
        sent = api(base, keys["admin"], "/events", method="POST",
                   body={"type": type_, "targets": ["t-ordered"], "ordering_key": "acct_7"})
        ids[name] = sent["deliveries"][0]["id"]
    wait_until(lambda: api(base, keys["admin"], f"/deliveries/{ids['blocker']}").get("blocks_group"), timeout=20)
    go(f"#/deliveries/{ids['blocked']}", "#delivery")
    behind = css("#waiting-behind")
    report(bool(behind) and f"delivery {ids['blocker']}" in behind[0].text,
           "a waiting delivery's page says what it waits behind", behind[0].text if behind else "no #waiting-behind")
    shot("delivery-waiting")
    go(f"#/deliveries/{ids['blocker']}", "#delivery")
    release = css("#release")
    report(bool(release) and bool(css("#blocks-group")), "the blocking dead letter's page offers to release its group")
    if release:
        release[0].click()
        moved = wait_until(lambda: api(base, keys["admin"], f"/deliveries/{ids['blocked']}")["status"] == "delivered", timeout=20)
        report(bool(moved), "Release lets the waiting delivery go, and it is delivered")

    # Targets: health words, a page of one with its charts.
    go("#/targets", "#targets tbody tr[data-id]")
    health = {r.get_attribute("data-id"): r.find_element(By.CSS_SELECTOR, ".status").text for r in css("#targets tbody tr[data-id]")}
    report(health.get("t-off") == "disabled" and health.get("t-ok") == "healthy", "targets show their health in words", str(health))
    report(len(css("#targets .toggle")) == len(health) and len(css("#targets .rotate")) == len(health),
           "an admin key sees enable/disable and rotate buttons")
    toggle = css("#targets .toggle[data-target='t-off']")
    if toggle:
        toggle[0].click()
        ok = wait_until(lambda: api(base, keys["admin"], "/targets/t-off")["enabled"])
        report(bool(ok), "Enable on a disabled target enables it")
    shot("targets")
    go("#/targets/t-flaky", "#target")
    wait_until(lambda: css("svg[data-chart=attempts] rect"))
    report(bool(css("svg[data-chart=attempts] rect")), "a target's page charts its attempts")
    shown = css("#target-filter")
    report(bool(shown) and '"op":"gte"' in shown[0].text and "$.n" in shown[0].text,
           "a target's page shows its payload filter", shown[0].text if shown else "no #target-filter")
    shot("target")

    # Widths: a phone and a 1080p screen.
    d.set_window_size(390, 844)
    go("#/deliveries", "#deliveries tbody tr[data-id]")
    over = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    report(over <= 0, "at phone width the page does not scroll sideways (the table does)", f"{over}px over")
    shot("phone-deliveries")
    go("#/", "#queue-depth")
    wait_until(lambda: css("svg[data-chart=attempts] rect"))
    shot("phone-overview")
    d.set_window_size(1920, 1080)
    go("#/", "#queue-depth")
    wait_until(lambda: css("svg[data-chart=attempts] rect"))
    shot("overview-1080p")

    # A read-only key: the same pages, no buttons.
    d.find_element(By.ID, "logout").click()
    wait.until(EC.presence_of_element_located((By.ID, "api-key"))).send_keys(keys["reader"])
    d.find_element(By.ID, "sign-in").click()
    wait.until(EC.presence_of_element_located((By.ID, "queue-depth")))
    go("#/targets", "#targets tbody tr[data-id]")
    report(not css("#targets button"), "a read key sees no buttons on the targets page")
    go(f"#/deliveries/{ids['hostile']}", "#delivery")
    report(not css("#resend") and not css("#retry"), "nor on a delivery")

    errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE" and "favicon" not in e.get("message", "")]
    report(not [e for e in errors if "Content Security Policy" in e.get("message", "")],
           "the page breaks no rule of its Content-Security-Policy", "; ".join(e["message"][:120] for e in errors))


def main():
    bins = {k: os.environ.get(k) for k in ("WEBHOOKD_BIN_WEBHOOKD", "WEBHOOKD_BIN_WEBHOOKCTL", "WEBHOOKD_BIN_RECEIVER")}
    if not all(bins.values()):
        print("not ok - set " + ", ".join(k for k, v in bins.items() if not v))
        return 1
    os.makedirs(SHOTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="webhookd-dash-")
    store = Store(tmp)
    db = store.locator
    procs, d = [], None

    def ctl(*args, data=None):
        r = subprocess.run([bins["WEBHOOKD_BIN_WEBHOOKCTL"], "--db", db, *args], capture_output=True, text=True,
                           input=data, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"webhookctl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout.strip()

    try:
        recv = Proc([bins["WEBHOOKD_BIN_RECEIVER"], "--port", "0", "--quiet",
                     "--script", "/flaky=500;body=html,200", "--script", "/reject=400;body=html,200",
                     "--script", "/ordered=400,200"])
        procs.append(recv)
        m = recv.wait_for(r"listening on (\S+):(\d+)")
        if not report(m is not None, "the receiver is listening"):
            return 1
        rx = f"http://{m.group(1)}:{m.group(2)}"
        ctl("init")
        ctl("target", "add", "t-ok", "--url", rx + "/ok")
        ctl("target", "add", "t-flaky", "--url", rx + "/flaky", "--initial-delay", "200ms", "--events", "flaky.*",
            "--filter", '{"path": "$.n", "op": "gte", "value": 1}')
        ctl("target", "add", "t-reject", "--url", rx + "/reject", "--events", "reject.*")
        ctl("target", "add", "t-off", "--url", rx + "/ok", "--events", "off.*")
        ctl("target", "add", "t-ordered", "--url", rx + "/ordered", "--events", "ordered.*", "--ordering", "key",
            "--ordering-dead-letter", "block", "--max-attempts", "1")
        ctl("target", "disable", "t-off")
        keys = {n: ctl("api-key", "create", n, "--scope", s).splitlines()[-1] for n, s in (("admin", "admin"), ("reader", "read"))}
        ids = {}
        ids["flaky"] = int(ctl("send", "flaky.one", "--target", "t-flaky", "--data", '{"n": 1}').splitlines()[0])
        ids["reject"] = int(ctl("send", "reject.one", "--target", "t-reject", "--data", '{"n": 2}').splitlines()[0])
        ids["hostile"] = int(ctl("send", "order.created", "--target", "t-ok",
                                 "--data", json.dumps({"note": HOSTILE, "html": "<script>window.__pwned=2</script>"})).splitlines()[0])
        batch = "".join(json.dumps({"type": f"order.e{i % 5}", "data": {"i": i}, "targets": ["t-ok"]}) + "\n" for i in range(120))
        ctl("send", "--batch", "-", data=batch)

        daemon = Proc([bins["WEBHOOKD_BIN_WEBHOOKD"], "--db", db, "--api-listen", "127.0.0.1:0", "--listen", "off",
                       "--allow-private-networks", "--poll-interval", "200ms"])
        procs.append(daemon)
        m = daemon.wait_for(r"api listening.*\baddress=\"?([^\s\"]+)")
        if not report(m is not None, "webhookd serves the API and the dashboard"):
            return 1
        base = f"http://{m.group(1)}"
        t0 = time.monotonic()
        settled = wait_until(lambda: api(base, keys["admin"], f"/deliveries/{ids['flaky']}")["status"] == "delivered"
                             and api(base, keys["admin"], f"/deliveries/{ids['reject']}")["status"] == "dead_letter"
                             and api(base, keys["admin"], "/stats")["queue_depth"]["pending"] == 0, timeout=30)
        print(f"# settled after {time.monotonic() - t0:.1f} s")
        state = api(base, keys["admin"], "/stats")["queue_depth"]
        report(bool(settled), "the seeded deliveries settle (flaky delivered, reject dead-lettered)",
               f"{getattr(wait_until, 'last', '')} "
               f"{api(base, keys['admin'], '/deliveries/' + str(ids['flaky']))['status']}, "
               f"{api(base, keys['admin'], '/deliveries/' + str(ids['reject']))['status']}, {state}")

        with urllib.request.urlopen(base + "/", timeout=10) as r:
            csp = r.headers.get("Content-Security-Policy", "")
            report("script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
                   and r.headers.get("X-Content-Type-Options") == "nosniff" and not r.headers.get("Set-Cookie"),
                   "/ is served with a strict Content-Security-Policy, nosniff and no cookie", csp)
            report("<script type=\"module\" src=\"app.js\">" in r.read().decode(), "index.html loads app.js, no inline script")

        d = browser()
        try:
            scenario(d, base, keys, ids)
        except Exception:  # noqa: BLE001
            report(False, "the browser scenario ran to the end", traceback.format_exc().strip().replace("\n", " | "))
            try:
                d.save_screenshot(os.path.join(SHOTS, "failure.png"))
            except Exception:  # noqa: BLE001
                pass
        code = daemon.stop()
        report(code == 0, "webhookd exits 0 on SIGTERM", f"exit {code}")
    finally:
        if d:
            d.quit()
        for p in procs:
            p.stop()
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# screenshots in {SHOTS}")
    print(f"# {failures} failed" if failures else "# all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

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

    debugging(d, base, keys, ids, go, css, shot)

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

    page_errors(d, "the operator's pages")


def page_errors(d, pages):
    """No CSP violation and no uncaught JavaScript error in the browser's log
    since the last look (answers of 4xx the pages asked for are expected)."""
    errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE" and "favicon" not in e.get("message", "")]
    report(not [e for e in errors if "Content Security Policy" in e.get("message", "")],
           f"{pages} break no rule of their Content-Security-Policy", "; ".join(e["message"][:120] for e in errors))
    report(not [e for e in errors if "Uncaught" in e.get("message", "")],
           f"{pages} raise no JavaScript error", "; ".join(e["message"][:160] for e in errors))


def status_of(base, token, path):
    try:
        api(base, token, path)
        return 200
    except urllib.error.HTTPError as e:
        return e.code


def debugging(d, base, keys, ids, go, css, shot):
    """What someone debugging "we never got msg_…" needs: search, the events
    page with fan-out, why a delivery waits, target create and edit, a test
    event, times with their zone."""
    hostile = api(base, keys["admin"], f"/deliveries/{ids['hostile']}")
    d.find_element(By.ID, "search-input").send_keys(hostile["event_uid"] + "\n")
    fan = wait_until(lambda: css("#fan-out tbody tr[data-id]"))
    report(bool(fan) and fan[0].get_attribute("data-id") == str(ids["hostile"]) and "t-ok" in fan[0].text,
           "searching an event id (the webhook-id) opens the event with its fan-out", fan[0].text if fan else "no #fan-out")
    report("UTC" in d.find_element(By.ID, "event").text, "times carry their zone", d.find_element(By.ID, "event").text[:200])
    shot("event-fan-out")
    d.find_element(By.ID, "search-input").send_keys("order-777\n")
    found = wait_until(lambda: css("#events tbody tr[data-id]"))
    report(bool(found) and len(found) == 1 and found[0].get_attribute("data-id") == ids["idempotent"],
           "searching an idempotency key finds its event", found[0].text if found else "none")
    d.find_element(By.ID, "search-input").send_keys(f"{ids['flaky']}\n")
    report(bool(wait_until(lambda: "flaky.one" in d.find_element(By.ID, "delivery").text)),
           "searching a delivery id opens the delivery")
    link = css("#event-link")
    report(bool(link) and link[0].text.startswith("msg_"), "a delivery's event is a link to the event's page")
    # Each attempt's request as sent: headers with the signature, and the
    # very body the receiver got; the answer's headers; copy as curl.
    last = css("#attempts .attempt")[-1]  # attempt 1, answered 500: a failed attempt keeps its heads
    d.execute_script("for (const x of document.querySelectorAll('#attempts details')) x.open = true")
    head = last.find_element(By.CSS_SELECTOR, ".request-head").text
    body = last.find_element(By.CSS_SELECTOR, ".request-body").text
    got = [x["body"] for x in json.loads(urllib.request.urlopen(ids["rx"] + "/_requests", timeout=10).read())
           if x["path"] == "/flaky"]
    report(head.startswith("POST ") and "webhook-signature: v1," in head and "webhook-id: msg_" in head,
           "an attempt shows the request line and headers, the signature included", head[:120])
    report(bool(got) and body == got[-1], "the body shown is byte for byte the one the receiver got", body[:80])
    report(last.find_element(By.CSS_SELECTOR, ".response-head").text.startswith("HTTP/1.1 500"),
           "and the answer's status line and headers")
    delivered = css("#attempts .attempt")[0]
    report(not delivered.find_elements(By.CSS_SELECTOR, ".request-head")
           and delivered.find_element(By.CSS_SELECTOR, ".request-body").text == body,
           "a delivered attempt keeps no headers by default (--attempt-heads failures), and still shows its body")
    curl = last.find_element(By.CSS_SELECTOR, ".curl").text
    report(curl.startswith("curl -X POST ") and "-H 'webhook-signature: v1," in curl and "--data-raw '" in curl,
           "'Copy as curl' holds the request", curl[:100])
    d.execute_script("arguments[0].scrollIntoView()", last)
    shot("delivery-request-as-sent")
    # An operator has an application column and picks an application.
    go("#/deliveries", "select[name=app_id]")
    from selenium.webdriver.support.ui import Select
    Select(d.find_element(By.CSS_SELECTOR, "select[name=app_id]")).select_by_value("acme")
    d.find_element(By.CSS_SELECTOR, "form.filters button").click()
    wait_until(lambda: "app_id=acme" in d.current_url and css("#deliveries tbody tr[data-id]"))
    apps = {r.find_element(By.CSS_SELECTOR, "td.app").text for r in css("#deliveries tbody tr[data-id]")}
    report(apps == {"acme"}, "an operator filters deliveries by application, picked from a list", str(apps))
    go("#/events?type=order.*", "#events tbody tr[data-id]")
    types = {r.find_elements(By.TAG_NAME, "td")[1].text for r in css("#events tbody tr[data-id]")}
    report(types and all(t.startswith("order.") for t in types), "the events page filters by a type pattern (order.*)", str(types))
    shot("events")

    # A target made and edited in the dashboard, and a test event to it.
    go("#/targets", "#new-target")
    d.find_element(By.ID, "new-target").click()
    form = wait_until(lambda: css("#target-form"))
    f = form[0]
    f.find_element(By.NAME, "id").send_keys("t-made")
    f.find_element(By.NAME, "url").send_keys(base.replace("http://", "http://") + "/nowhere")
    f.find_element(By.NAME, "event_filters").send_keys("made.*")
    f.find_element(By.NAME, "headers").send_keys("X-Team: billing")
    f.find_element(By.NAME, "max_attempts").send_keys("4")
    shot("target-create")
    d.find_element(By.ID, "save-target").click()
    secret = wait_until(lambda: css("#new-secret pre"))
    made = api(base, keys["admin"], "/targets/t-made")
    report(bool(secret) and secret[0].text.startswith("whsec_") and made["event_filters"] == ["made.*"]
           and made["headers"] == {"X-Team": "billing"} and made["max_attempts"] == 4,
           "a target created in the dashboard has what the form said, and its secret is shown once", str(made)[:200])
    go("#/targets/t-made/edit", "#target-form")
    name = d.find_element(By.CSS_SELECTOR, "#target-form [name=name]")
    name.send_keys("Made here")
    d.find_element(By.CSS_SELECTOR, "#target-form [name=url]").clear()
    d.find_element(By.CSS_SELECTOR, "#target-form [name=url]").send_keys("not a url")
    d.execute_script("document.querySelector('#target-form [name=url]').type = 'text'")  # let the server judge it
    d.find_element(By.ID, "save-target").click()
    err = wait_until(lambda: d.find_element(By.ID, "form-error").text)
    report(bool(err) and api(base, keys["admin"], "/targets/t-made")["name"] == "",
           "a bad URL is refused with the server's sentence, and nothing changes", err or "")
    d.find_element(By.CSS_SELECTOR, "#target-form [name=url]").clear()
    d.find_element(By.CSS_SELECTOR, "#target-form [name=url]").send_keys("http://127.0.0.1:9/made")
    d.find_element(By.ID, "save-target").click()
    report(bool(wait_until(lambda: api(base, keys["admin"], "/targets/t-made")["name"] == "Made here")),
           "editing a target in the dashboard saves it")
    go("#/targets/t-made", "#send-test")
    api(base, keys["admin"], "/targets/t-made/disable", method="POST")
    go("#/targets/t-made", "#send-test")
    d.find_element(By.ID, "send-test").click()
    fan = wait_until(lambda: css("#fan-out tbody tr[data-id]"))
    report(bool(fan) and "t-made" in fan[0].text, "Send test event records one event for that target alone")
    if fan:
        fan[0].click()
        why = wait_until(lambda: css("#why-waiting"))
        report(bool(why) and "disabled" in why[0].text, "a pending delivery says why it waits (its target is disabled)",
               why[0].text if why else "no #why-waiting")
        shot("delivery-why-waiting")


def portal(d, base, ctl, ids):
    """A portal link hands one application to its customer: they see only it,
    can replay and edit its endpoint, cannot reach keys, and an expired link
    is refused."""
    wait = WebDriverWait(d, 15)
    css = lambda sel: d.find_elements(By.CSS_SELECTOR, sel)  # noqa: E731
    shot = lambda name: d.save_screenshot(os.path.join(SHOTS, name + ".png"))  # noqa: E731
    d.execute_script("sessionStorage.clear()")
    url = ctl("portal-link", "--app", "acme", "--url", base).splitlines()[-1]
    report(url.startswith(base + "/#portal=whk_"), "portal-link prints the dashboard URL with the token in the fragment", url[:60])
    token = url.split("#portal=", 1)[1]
    d.get(url)
    wait.until(EC.presence_of_element_located((By.ID, "queue-depth")))
    report("Portal · acme" in d.find_element(By.ID, "who").text, "the portal opens in tenant mode for its application",
           d.find_element(By.ID, "who").text)
    report("portal=" not in d.current_url, "the token leaves the address bar at once", d.current_url)
    shot("portal-overview")
    d.get(base + "/#/targets")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#targets tbody tr[data-id]")))
    shown = sorted(r.get_attribute("data-id") for r in css("#targets tbody tr[data-id]"))
    report(shown == ["a-hook"], "the portal lists its application's targets only", str(shown))
    report(not css("#targets th.hide-narrow") or "Application" not in d.find_element(By.ID, "targets").text,
           "and no application column")
    shot("portal-targets")
    d.get(base + "/#/deliveries")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#deliveries tbody tr[data-id]")))
    seen = {r.find_elements(By.TAG_NAME, "td")[2].text for r in css("#deliveries tbody tr[data-id]")}
    report(seen == {"a-hook"}, "its deliveries are its application's only", str(seen))
    d.get(base + f"/#/deliveries/{ids['globex']}")
    err = wait_until(lambda: css("main .error"))
    report(bool(err) and f"there is no delivery {ids['globex']}" in err[0].text,
           "another application's delivery is 'there is no delivery', as for one that does not exist",
           err[0].text if err else "")
    # Replay its own delivery.
    before = api(base, token, f"/deliveries/{ids['acme']}")["attempt_count"]
    d.get(base + f"/#/deliveries/{ids['acme']}")
    wait.until(EC.element_to_be_clickable((By.ID, "resend"))).click()
    replayed = wait_until(lambda: api(base, token, f"/deliveries/{ids['acme']}")["attempt_count"] > before
                          and api(base, token, f"/deliveries/{ids['acme']}")["status"] == "delivered", timeout=20)
    report(bool(replayed), "the customer replays a delivery from the portal, and it is delivered again")
    shot("portal-delivery")
    # Edit its endpoint.
    d.get(base + "/#/targets/a-hook/edit")
    wait.until(EC.presence_of_element_located((By.ID, "target-form")))
    d.find_element(By.CSS_SELECTOR, "#target-form [name=name]").send_keys("Acme production")
    d.find_element(By.ID, "save-target").click()
    report(bool(wait_until(lambda: api(base, token, "/targets/a-hook")["name"] == "Acme production")),
           "the customer edits their endpoint from the portal")
    report(status_of(base, token, "/api-keys") == 403 and status_of(base, token, "/api-keys/self") == 200,
           "a portal session cannot list keys (403), only read itself")
    report(not [a for a in css("a") if "key" in (a.get_attribute("href") or "")], "the portal shows no key pages")
    # An expired link.
    d.execute_script("sessionStorage.clear()")
    expired = ctl("portal-link", "--app", "acme", "--ttl", "1ms", "--url", base).splitlines()[-1]
    time.sleep(0.05)
    d.get(base + "/")
    d.get(expired)
    msg = wait_until(lambda: d.find_element(By.ID, "login-error").text)
    report(bool(msg) and "expired" in msg, "an expired portal link is refused with one sentence", msg or "")
    shot("portal-expired")
    page_errors(d, "the portal's pages")


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
        ids = {"rx": rx}
        ctl("init")
        ctl("target", "add", "t-ok", "--url", rx + "/ok")
        ctl("target", "add", "t-flaky", "--url", rx + "/flaky", "--initial-delay", "200ms", "--events", "flaky.*",
            "--filter", '{"path": "$.n", "op": "gte", "value": 1}')
        ctl("target", "add", "t-reject", "--url", rx + "/reject", "--events", "reject.*")
        ctl("target", "add", "t-off", "--url", rx + "/ok", "--events", "off.*")
        ctl("target", "add", "t-ordered", "--url", rx + "/ordered", "--events", "ordered.*", "--ordering", "key",
            "--ordering-dead-letter", "block", "--max-attempts", "1")
        ctl("target", "disable", "t-off")
        ctl("target", "add", "a-hook", "--url", rx + "/ok", "--app", "acme")
        ctl("target", "add", "g-hook", "--url", rx + "/ok", "--app", "globex")
        keys = {n: ctl("api-key", "create", n, "--scope", s).splitlines()[-1] for n, s in (("admin", "admin"), ("reader", "read"))}
        ids["flaky"] = int(ctl("send", "flaky.one", "--target", "t-flaky", "--data", '{"n": 1}').splitlines()[0])
        ids["reject"] = int(ctl("send", "reject.one", "--target", "t-reject", "--data", '{"n": 2}').splitlines()[0])
        ids["hostile"] = int(ctl("send", "order.created", "--target", "t-ok",
                                 "--data", json.dumps({"note": HOSTILE, "html": "<script>window.__pwned=2</script>"})).splitlines()[0])
        ids["acme"] = int(ctl("send", "order.paid", "--app", "acme", "--data", '{"n": 3}').splitlines()[0])
        ids["globex"] = int(ctl("send", "order.paid", "--app", "globex", "--data", '{"n": 4}').splitlines()[0])
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

        ids["idempotent"] = api(base, keys["admin"], "/events", method="POST",
                                body={"type": "order.keyed", "targets": ["t-ok"], "idempotency_key": "order-777"})["id"]
        # An operator who embeds the portal names who may frame it; a value
        # that could add a directive is refused before anything starts.
        framed = Proc([bins["WEBHOOKD_BIN_WEBHOOKD"], "--db", db, "--no-deliver", "--api-listen", "127.0.0.1:0",
                       "--listen", "off", "--portal-frame-ancestors", "https://app.example.com 'self'"])
        procs.append(framed)
        fm = framed.wait_for(r"api listening.*\baddress=\"?([^\s\"]+)")
        if report(fm is not None, "webhookd starts with --portal-frame-ancestors"):
            with urllib.request.urlopen(f"http://{fm.group(1)}/", timeout=10) as r:
                csp = r.headers.get("Content-Security-Policy", "")
                report("frame-ancestors https://app.example.com 'self';" in csp and r.headers.get("X-Frame-Options") is None,
                       "the dashboard may then be framed by those origins only", csp)
        report(framed.stop() == 0, "that webhookd stops cleanly")
        bad = subprocess.run([bins["WEBHOOKD_BIN_WEBHOOKD"], "--db", db, "--api-listen", "127.0.0.1:0",
                              "--portal-frame-ancestors", "https://a.example; script-src *"],
                             capture_output=True, text=True, timeout=30)
        report(bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--portal-frame-ancestors" in bad.stderr,
               "a frame-ancestors value that could add a directive is refused with one sentence", bad.stderr.strip())

        d = browser()
        try:
            scenario(d, base, keys, ids)
            portal(d, base, ctl, ids)
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

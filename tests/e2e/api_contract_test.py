#!/usr/bin/env python3
"""Contract test of webhookd's HTTP API against src/api/openapi.json.

Starts a webhook-receiver and `webhookd --api-listen 127.0.0.1:0` on a fresh
database, calls every operation of the spec (valid input and the main error
answers), and checks each answer: its status is documented for that
operation, its Content-Type is the documented one, and its body is valid
against the documented JSON Schema (2020-12). Prints `ok - ...` or
`not ok - ...` per check; exits 1 if any failed.

Environment: WEBHOOKD_BIN_WEBHOOKD, WEBHOOKD_BIN_WEBHOOKCTL,
WEBHOOKD_BIN_RECEIVER, WEBHOOKD_SOURCE_ROOT.
"""

import base64
import http.client as httpclient
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import warnings

import jsonschema

from proc import Proc, Store

warnings.simplefilter("ignore", DeprecationWarning)  # RefResolver, in newer jsonschema

ROOT = os.environ.get("WEBHOOKD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_PATH = os.path.join(ROOT, "src", "api", "openapi.json")
with open(SPEC_PATH, encoding="utf-8") as f:
    SPEC = json.load(f)
RESOLVER = jsonschema.RefResolver.from_schema(SPEC)
# operationId -> (METHOD, path template, operation object)
OPS = {o["operationId"]: (m.upper(), p, o) for p, ms in SPEC["paths"].items() for m, o in ms.items()}
exercised = set()
failures = 0
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def report(ok, what, why=""):
    global failures
    if not ok:
        failures += 1
    print(("ok - " if ok else "not ok - ") + what + ("" if ok or not why else f" ({why})"), flush=True)
    return ok


def check(what, fn, detail=""):
    """Reports fn() as a check; an exception (missing key, None) is a failure."""
    try:
        return report(bool(fn()), what, detail)
    except Exception as e:  # noqa: BLE001: any exception means the answer was not as expected
        return report(False, what, f"{type(e).__name__}: {e}")


def deref(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        node = SPEC
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def schema_errors(schema, doc):
    v = jsonschema.Draft202012Validator(schema, resolver=RESOLVER)
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{e.message} at /{'/'.join(map(str, e.absolute_path))}" for e in errs]


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


# ---------------------------------------------------------------- processes

# ---------------------------------------------------------------- HTTP

class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def http(method, url, token=None, body=None, raw=None, ctype="application/json", headers=None):
    data = json.dumps(body).encode() if body is not None else raw
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with HTTP.open(req, timeout=30) as r:
            return Answer(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())


BASE = None  # http://HOST:PORT/api/v1


def api(op_id, token, expect, args=None, query=None, code=None, label="", **kw):
    """Calls an operation and checks the answer against the spec; returns the Answer."""
    method, template, op = OPS[op_id]
    exercised.add(op_id)
    path = template.format(**{k: urllib.parse.quote(str(v), safe="") for k, v in (args or {}).items()})
    url = BASE + path + ("?" + urllib.parse.urlencode(query) if query else "")
    what = f"{op_id} {label} -> {expect}".replace("  ", " ")
    try:
        ans = http(method, url, token, **kw)
    except OSError as e:
        report(False, what, f"request failed: {e}")
        return Answer(0, {}, b"")
    problems = []
    if ans.status != expect:
        problems.append(f"status {ans.status}, expected {expect}: {ans.body[:300]!r}")
    resp = op["responses"].get(str(ans.status))
    if resp is None:
        problems.append(f"status {ans.status} is not documented for {op_id}")
    else:
        resp = deref(resp)
        content = resp.get("content")
        ctype = (ans.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not content:
            if ans.body:
                problems.append("a body on an answer documented without one")
        elif ctype not in content:
            problems.append(f"Content-Type {ctype!r}, documented {sorted(content)}")
        elif (doc := ans.json) is None:
            problems.append("the body is not JSON")
        else:
            problems += schema_errors(content[ctype]["schema"], doc)[:3]
            if ctype == "application/problem+json" and isinstance(doc, dict):
                if doc.get("status") != ans.status:
                    problems.append(f"problem status {doc.get('status')} != {ans.status}")
                if code and doc.get("code") != code:
                    problems.append(f"code {doc.get('code')!r}, expected {code!r}")
        for name, h in resp.get("headers", {}).items():
            if deref(h).get("required") and ans.headers.get(name) is None:
                problems.append(f"header {name} missing")
    report(not problems, what, "; ".join(problems))
    return ans


def get_json(url, token=None):
    """GET without checks (polling, the receiver); None when it fails."""
    try:
        return http("GET", url, token).json
    except OSError:
        return None


def poll_delivery(token, did, want, timeout=10.0):
    """Waits until GET /deliveries/{id} shows status `want`; returns the last body."""
    deadline = time.monotonic() + timeout
    while True:
        doc = get_json(f"{BASE}/deliveries/{did}", token) or {}
        if doc.get("status") == want or time.monotonic() > deadline:
            return doc
        time.sleep(0.1)


# ---------------------------------------------------------------- the checks

def check_spec_itself():
    bad = []
    for name, schema in SPEC["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            bad.append(f"{name}: {e.message}")
    report(not bad, "every component schema is a valid 2020-12 schema", "; ".join(bad))
    bad = []
    for op_id, (method, path, op) in OPS.items():
        sec = op.get("security")
        scopes = sec[0]["bearer"] if sec else None
        need = set() if sec == [] else {"401"} | ({"403"} if scopes else set())
        if not op.get("summary") or sec is None or not need <= set(op["responses"]):
            bad.append(op_id)
    report(not bad, "every operation has a summary, security, 401 and (if scoped) 403", ", ".join(bad))
    declared = [t.get("name") for t in SPEC.get("tags", [])]
    report(bool(declared) and len(declared) == len(set(declared))
           and all(t.get("description") for t in SPEC.get("tags", [])),
           "the document declares its tags once each, each with a description", ", ".join(map(str, declared)))
    bad = [op_id for op_id, (_, _, op) in OPS.items()
           if not op.get("tags") or not set(op["tags"]) <= set(declared)]
    report(not bad, "every operation has a tag, and only tags the document declares", ", ".join(bad))
    unused = set(declared) - {t for (_, _, op) in OPS.values() for t in op.get("tags", [])}
    report(not unused, "every declared tag is used by an operation", ", ".join(sorted(unused)))


def scenario(tokens, recv_base):
    A, W, R = tokens["admin"], tokens["writer"], tokens["reader"]
    hook = recv_base + "/hook"

    # The spec, served without a key, equals the file.
    ans = api("getOpenApi", None, 200)
    check("the served openapi.json equals src/api/openapi.json", lambda: ans.json == SPEC)
    h = api("getHealth", None, 200)
    check("GET /health answers {\"status\": \"ok\"} without a key", lambda: h.json == {"status": "ok"})
    query_parameters(tokens)

    # Authentication and scopes.
    api("listTargets", None, 401, code="authentication_failed", label="without a key")
    api("listTargets", "whk_key_000000000000_bogus", 401, code="authentication_failed", label="with a bad key")
    api("listTargets", W, 403, code="insufficient_scope", label="with an events:write key")

    # Targets.
    t = api("createTarget", A, 201, body={"id": "recv", "url": hook, "name": "Receiver",
                                          "event_filters": ["order.*", "page.*", "batch.*"]}).json
    check("a generated secret is shown in the clear once", lambda: t["secret"].startswith("whsec_") and "*" not in t["secret"])
    api("createTarget", A, 409, code="conflict", label="with a taken id", body={"id": "recv", "url": hook})
    api("createTarget", A, 422, code="validation_error", label="with an unknown field",
        body={"id": "other", "url": hook, "colour": "red"})
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    s = api("createTarget", A, 201, label="with every kind of setting", body={
        "id": "spare", "url": hook, "secret": secret, "event_filters": ["spare.*"], "headers": {"X-Api-Token": "t0p"},
        "metadata": {"team": "core"}, "retry_schedule": "svix", "rate_per_second": 5, "burst": 10,
        "max_in_flight": 2, "signature_scheme": "github", "app_id": "acme", "body_format": "data"}).json
    check("a given secret is masked in the 201", lambda: s["secret"] == "whsec_********")
    check("an auth-like header value is masked", lambda: s["headers"]["X-Api-Token"] == "********")
    check("the settings read back", lambda: (s["app_id"], s["body_format"], s["retry_schedule_name"], s["max_in_flight"])
          == ("acme", "data", "svix", 2))
    lst = api("listTargets", R, 200, query={"limit": 10}).json
    check("listTargets has both targets", lambda: {"recv", "spare"} <= {x["id"] for x in lst["data"]})
    g = api("getTarget", R, 200, args={"id": "recv"}).json
    check("getTarget masks the generated secret", lambda: g["secret"] == "whsec_********")
    api("getTarget", R, 404, code="not_found", label="unknown", args={"id": "nope"})
    # rate_per_second: null turns rate limiting off and keeps the rate, as
    # `target update --no-rate-limit` does.
    u = api("updateTarget", A, 200, args={"id": "spare"}, body={"name": "Spare", "max_attempts": 3,
                                                                  "rate_per_second": None}).json
    check("updateTarget changes what it was given", lambda: (u["name"], u["max_attempts"], u["rate_per_second"], u["rate_limit_enabled"])
          == ("Spare", 3, 5, False))
    api("updateTarget", A, 422, code="validation_error", label="with an unknown field", args={"id": "spare"}, body={"bogus": 1})
    big = {"all": [{"path": "$.amount", "op": "gte", "value": 10000}, {"path": "$.currency", "op": "in", "value": ["EUR", "USD"]}]}
    f = api("updateTarget", A, 200, label="with a payload filter", args={"id": "spare"}, body={"filter": big}).json
    check("the payload filter reads back as given", lambda: f["filter"] == big)
    bad = api("updateTarget", A, 422, code="validation_error", label="with a filter of an unknown operator",
              args={"id": "spare"}, body={"filter": {"path": "$.a", "op": "like", "value": 1}})
    check("a bad filter is refused with one sentence naming the operator",
          lambda: "\"like\"" in bad.json.get("detail", "") and api("getTarget", R, 200, args={"id": "spare"}).json["filter"] == big)
    n = api("updateTarget", A, 200, label="with filter null", args={"id": "spare"}, body={"filter": None}).json
    check("filter null removes it", lambda: n["filter"] is None)
    api("updateTarget", A, 422, label="with an id", args={"id": "spare"}, body={"id": "renamed"})
    api("updateTarget", A, 404, label="unknown", args={"id": "nope"}, body={"name": "x"})
    d = api("disableTarget", A, 200, args={"id": "spare"}).json
    check("disableTarget disables", lambda: d["enabled"] is False)
    e = api("enableTarget", A, 200, args={"id": "spare"}).json
    check("enableTarget enables", lambda: e["enabled"] is True)
    api("enableTarget", A, 404, label="unknown", args={"id": "nope"})
    r = api("rotateTargetSecret", A, 200, args={"id": "spare"}, body={"overlap": "1h"}).json
    check("rotation returns a new secret and when the old one stops",
          lambda: r["secret"].startswith("whsec_") and r["secret"] != secret and r["previous_secret_expires_at"] > 0)
    api("rotateTargetSecret", A, 422, label="with a bad overlap", args={"id": "spare"}, body={"overlap": "forever"})
    api("rotateTargetSecret", R, 403, label="with a read key", args={"id": "spare"}, body={})
    check("answers with secrets say Cache-Control: no-store", lambda: all(
        http(*req, token=A, body=b).headers.get("Cache-Control") == "no-store" for req, b in (
            (("POST", f"{BASE}/targets/spare/secret/rotate"), {}),
            (("POST", f"{BASE}/targets"), {"id": "gen", "url": hook, "event_filters": ["none.*"]}))))
    api("deleteTarget", A, 204, label="the generated one", args={"id": "gen"})
    secrets(tokens, hook)

    # Events.
    data = {"order": 42, "total": 9.99, "items": ["a", "b"]}
    ev = api("createEvent", W, 202, body={"type": "order.created", "data": data}).json or {}
    check("the event went to the receiver's target",
          lambda: ev["id"].startswith("msg_") and [x["target_id"] for x in ev["deliveries"]] == ["recv"])
    paid = {"type": "order.paid", "data": {"order": 42}}
    first = api("createEvent", W, 202, label="with an Idempotency-Key", body=paid, headers={"Idempotency-Key": "pay-42"})
    again = api("createEvent", W, 200, label="repeated", body=paid, headers={"Idempotency-Key": "pay-42"})
    check("a replay says Idempotent-Replayed: true", lambda: again.headers.get("Idempotent-Replayed") == "true")
    check("a replay answers the original ids", lambda: (again.json["id"], again.json["deliveries"])
          == (first.json["id"], first.json["deliveries"]))
    found = api("listEvents", R, 200, label="by idempotency key", query={"idempotency_key": "pay-42"}).json
    check("the idempotency key finds its event", lambda: [x["id"] for x in found["data"]] == [first.json["id"]])
    found = api("listEvents", R, 200, label="by idempotency key", query={"idempotency_key": "pay-42"}).json
    check("the idempotency key finds its event", lambda: [x["id"] for x in found["data"]] == [first.json["id"]])
    api("createEvent", W, 422, code="idempotency_key_reused", label="same key, different request",
        body={"type": "order.paid", "data": {"order": 43}}, headers={"Idempotency-Key": "pay-42"})
    api("createEvent", W, 400, code="bad_request", label="malformed JSON", raw=b'{"type": "order.created", "data": ')
    api("createEvent", W, 422, code="validation_error", label="with an unknown field", body={"type": "order.created", "colour": "red"})
    api("createEvent", W, 404, code="not_found", label="to an unknown target", body={"type": "order.created", "targets": ["nope"]})
    api("createEvent", R, 403, label="with a read key", body={"type": "order.created"})

    # Batches: JSON array, NDJSON, and all or nothing.
    b = api("createEventBatch", W, 202, label="JSON array",
            body=[{"type": "batch.a", "data": {"i": 1}}, {"type": "batch.a", "data": {"i": 2}, "priority": 5}]).json
    check("a batch answers one entry per event", lambda: len(b["data"]) == 2 and all(x["deliveries"] for x in b["data"]))
    nd = "".join(json.dumps({"type": "batch.n", "data": {"i": i}}) + "\n" for i in range(3)).encode()
    n = api("createEventBatch", W, 202, label="NDJSON", raw=nd, ctype="application/x-ndjson").json
    check("an NDJSON batch answers one entry per line", lambda: len(n["data"]) == 3)
    bad = api("createEventBatch", W, 422, label="with a bad third item",
              body=[{"type": "batch.bad"}, {"type": "batch.bad"}, {"type": "batch.bad", "bogus": 1}]).json
    check("the 422 names the bad item (\"event 3: ...\")", lambda: bad["detail"].startswith("event 3:"))
    none = api("listEvents", R, 200, label="of a rejected batch's type", query={"type": "batch.bad"}).json
    check("nothing of a rejected batch was stored", lambda: none["data"] == [] and none["done"] is True)
    api("createEventBatch", W, 400, label="malformed JSON", raw=b"[{")

    # Pagination: 7 events, pages of 3, newest first.
    start = int(time.time() * 1000) - 1000
    uids = [(api("createEvent", W, 202, label=f"page event {i + 1}", body={"type": "page.test", "data": {"n": i}}).json
             or {}).get("id") for i in range(7)]
    seen, sizes, it = [], [], None
    for page_no in range(1, 6):
        q = {"type": "page.test", "limit": 3, **({"iterator": it} if it else {})}
        page = api("listEvents", R, 200, label=f"page {page_no}", query=q).json or {"data": [], "done": True}
        seen += [x["id"] for x in page["data"]]
        sizes.append(len(page["data"]))
        it = page.get("iterator")
        if page["done"] or not it:
            break
    check(f"the pages ({sizes}) hold all 7 events once, newest first", lambda: seen == uids[::-1] and max(sizes) <= 3)
    until = iso(int(time.time() * 1000) + 60_000)
    for since in ("1h", str(start), iso(start)):
        got = api("listEvents", R, 200, label=f"since={since}", query={"type": "page.test", "since": since, "until": until}).json
        check(f"since={since} until=ISO finds the 7", lambda: len(got["data"]) == 7)
    pat = api("listEvents", R, 200, label="type=page.*", query={"type": "page.*", "limit": 250}).json
    check("a type pattern page.* finds the 7 page.test events", lambda: len(pat["data"]) == 7)
    api("listEvents", R, 400, label="type=*.test", query={"type": "*.test"})
    api("listEvents", R, 400, code="bad_request", label="limit=1000", query={"limit": 1000})
    api("listEvents", R, 400, label="forged iterator", query={"iterator": "zzz"})
    api("listEvents", R, 400, label="bad since", query={"since": "last tuesday"})

    detail = api("getEvent", R, 200, args={"uid": ev.get("id", "msg_x")}).json
    check("getEvent returns the payload and the deliveries", lambda: detail["data"] == data
          and [x["id"] for x in detail["deliveries"]] == [x["id"] for x in ev["deliveries"]])
    api("getEvent", R, 404, label="unknown", args={"uid": "msg_00000000000000000000000000"})

    # Delivery to the receiver.
    did = ev["deliveries"][0]["id"] if ev.get("deliveries") else 0
    doc = poll_delivery(R, did, "delivered")
    check("the event is delivered to the receiver within 10 s", lambda: doc["status"] == "delivered")
    dd = api("getDelivery", R, 200, args={"id": did}).json
    check("its last attempt got a 200", lambda: dd["attempts"][-1]["status_code"] == 200)
    check("a delivered attempt keeps no heads by default (--attempt-heads failures)",
          lambda: dd["attempts"][-1]["request_head"] is None and dd["attempts"][-1]["response_head"] is None)
    got = get_json(recv_base + "/_requests") or []
    check("the receiver saw the envelope", lambda: any(x["path"] == "/hook" and json.loads(x["body"])["id"] == ev["id"]
                                                        for x in got))
    st = api("getStats", R, 200, query={"since": "1h"}).json
    check("stats count it by target", lambda: st["by_target"]["recv"]["delivered"] >= 1)
    api("getStats", R, 400, label="bad since", query={"since": "whenever"})
    ts = api("getStatsTimeseries", R, 200, query={"since": "1h", "step": "5m", "target_id": "recv"}).json
    check("the timeseries has 12 or 13 five-minute steps, the delivery in one of the last two",
          lambda: ts["step_ms"] == 300_000 and len(ts["points"]) in (12, 13)
          and all(b["t"] - a["t"] == 300_000 for a, b in zip(ts["points"], ts["points"][1:]))
          and sum(p["delivered"] for p in ts["points"][-2:]) >= 1
          and any(p["p50_ms"] is not None for p in ts["points"][-2:])
          and ts["points"][0]["attempts"] == 0 and ts["points"][0]["p50_ms"] is None)
    api("getStatsTimeseries", R, 400, label="step=90s", query={"step": "90s"})
    for lo, hi in (("-9223372036854720000", "9223372036854775807"), ("0", "9223372036854775807")):
        api("getStatsTimeseries", R, 400, label=f"since={lo} until={hi} (S2)", query={"since": lo, "until": hi, "step": "1m"})
    check("webhookd still answers after them", lambda: http("GET", f"{BASE}/health").status == 200)
    api("getStatsTimeseries", R, 422, label="too many steps", query={"since": "30d", "step": "1m"})
    api("getStatsTimeseries", R, 404, label="unknown target", query={"target_id": "nobody"})
    api("getDelivery", R, 404, label="unknown", args={"id": 999999999})
    dl = api("listDeliveries", R, 200, query={"status": "delivered", "target_id": "recv", "type": "order.created",
                                              "since": "1h", "until": until, "limit": 50}).json
    check("listDeliveries with every filter finds it", lambda: did in [x["id"] for x in dl["data"]])
    api("listDeliveries", R, 400, label="status=lost", query={"status": "lost"})
    rs = api("resendDeliveries", A, 202, body={"ids": [did]}).json
    check("resend requeues it", lambda: rs["requeued"] == 1 and rs["ids"] == [did])
    api("resendDeliveries", A, 404, label="unknown id", body={"ids": [999999999]})
    api("resendDeliveries", A, 422, label="no ids", body={"ids": []})

    # Dead letters: the receiver answers 400 on /reject.
    api("createTarget", A, 201, label="that dead-letters", body={"id": "reject", "url": recv_base + "/reject",
                                                                 "event_filters": ["reject.*"], "max_attempts": 1,
                                                                 "headers": {"Authorization": "Bearer receiver-secret",
                                                                             "X-Team": "billing"}})
    rj = api("createEvent", W, 202, label="to be rejected", body={"type": "reject.me"}).json
    rid = rj["deliveries"][0]["id"] if rj and rj.get("deliveries") else 0
    check("a 400 answer dead-letters it", lambda: poll_delivery(R, rid, "dead_letter")["status"] == "dead_letter")
    failed = api("getDelivery", R, 200, label="a dead letter", args={"id": rid}).json["attempts"][-1]
    head = failed["request_head"] or ""
    check("a failed attempt keeps the request as sent: URL, signature headers, custom headers",
          lambda: head.startswith(f"POST {recv_base}/reject\n") and f"webhook-id: {rj['id']}\n" in head
          and "webhook-signature: v1," in head and "X-Team: billing\n" in head, head)
    check("a credential in a custom header is never kept", lambda: "receiver-secret" not in head
          and "Authorization: ********" in head, head)
    check("a failed attempt keeps the answer's status line and headers",
          lambda: (failed["response_head"] or "").startswith("HTTP/1.1 400"), str(failed["response_head"]))
    dls = api("listDeadLetters", R, 200, query={"target_id": "reject", "type": "reject.me", "since": "1h", "limit": 10}).json
    check("listDeadLetters has it", lambda: [x["id"] for x in dls["data"]] == [rid])
    rt = api("retryDeadLetters", A, 202, label="by id", body={"ids": [rid]}).json
    check("retry by id requeues it", lambda: rt["requeued"] == 1 and rt["ids"] == [rid])
    check("it dead-letters again", lambda: poll_delivery(R, rid, "dead_letter")["status"] == "dead_letter")
    ra = api("retryDeadLetters", A, 202, label="all", body={"all": True, "target_id": "reject", "type": "reject.me", "since": "1h"}).json
    check("retry all requeues it", lambda: ra["requeued"] >= 1 and rid in ra["ids"])
    api("retryDeadLetters", A, 404, label="unknown id", body={"ids": [999999999]})
    api("retryDeadLetters", A, 422, label="all: false", body={"all": False})
    # Ordering with block: the first of key k dead-letters and holds the second back until released.
    api("createTarget", A, 201, label="ordered by key, dead letters block", body={
        "id": "ordered", "url": recv_base + "/reject", "event_filters": ["ordered.*"], "max_attempts": 1,
        "ordering": "key", "ordering_dead_letter": "block"})
    o1 = api("createEvent", W, 202, label="with an ordering key", body={"type": "ordered.one", "ordering_key": "k"}).json
    o2 = api("createEvent", W, 202, label="behind it", body={"type": "ordered.two", "ordering_key": "k"}).json
    first, second = o1["deliveries"][0]["id"], o2["deliveries"][0]["id"]
    check("the first dead-letters and blocks its group",
          lambda: poll_delivery(R, first, "dead_letter").get("blocks_group") is True)
    w = api("getDelivery", R, 200, label="a waiting one", args={"id": second}).json
    check("the second waits behind the first", lambda: (w["status"], w["waiting_behind"], w["ordering_group"]) == ("waiting", first, "k"))
    api("releaseDeadLetter", A, 409, label="not a dead letter", args={"id": second})
    api("releaseDeadLetter", A, 404, label="unknown", args={"id": 999999999})
    api("releaseDeadLetter", R, 403, label="with a read key", args={"id": first})
    api("releaseDeadLetter", A, 200, args={"id": first})
    check("after release the second goes (and dead-letters in turn)", lambda: poll_delivery(R, second, "dead_letter")["status"] == "dead_letter")
    api("releaseDeadLetter", A, 409, label="again", args={"id": first})
    api("retryDeadLetters", A, 202, label="the blocking one, by id", body={"ids": [second]})
    check("it dead-letters a third time", lambda: poll_delivery(R, rid, "dead_letter")["status"] == "dead_letter")
    p0 = api("purgeDeadLetters", A, 200, label="older than 10 years", body={"older_than": "3650d"}).json
    check("nothing is that old", lambda: p0["deleted"] == 0)
    time.sleep(0.05)
    p1 = api("purgeDeadLetters", A, 200, label="older than 1ms", body={"older_than": "1ms"}).json
    check("the dead letter is purged", lambda: p1["deleted"] >= 1 and http("GET", f"{BASE}/deliveries/{rid}", R).status == 404)
    api("purgeDeadLetters", A, 422, label="bad duration", body={"older_than": "soon"})

    # The store-wide defaults.
    df = api("getDefaults", R, 200).json
    check("a store starts with the standard-webhooks schedule, a window of over a day",
          lambda: df["retry"]["retry_schedule_name"] == "standard-webhooks" and df["retry"]["retry_window_ms"] >= 86_400_000)
    api("setDefaults", R, 403, code="insufficient_scope", label="with a read key", body={"retry": {"retry_schedule": "svix"}})
    sv = api("setDefaults", A, 200, body={"retry": {"retry_schedule": "svix"}}).json
    check("setDefaults takes a schedule by name, with its attempts",
          lambda: (sv["retry"]["retry_schedule_name"], sv["retry"]["max_attempts"]) == ("svix", 8))
    nt = api("createTarget", A, 201, label="after setDefaults", body={"id": "after-defaults", "url": recv_base + "/x"}).json
    check("a target added afterwards starts from the store's default",
          lambda: (nt["retry_schedule_name"], nt["retry_window_ms"]) == ("svix", sv["retry"]["retry_window_ms"]))
    api("setDefaults", A, 422, label="an unknown field", body={"retry": {"bogus": 1}})
    api("setDefaults", A, 422, label="zero attempts", body={"retry": {"max_attempts": 0}})
    api("setDefaults", A, 422, label="not under retry", body={"max_attempts": 3})
    back = api("setDefaults", A, 200, label="back to standard-webhooks", body={"retry": {"retry_schedule": "standard-webhooks"}}).json
    check("and back", lambda: back == df)
    api("deleteTarget", A, 204, label="the one added after setDefaults", args={"id": "after-defaults"})

    # API keys.
    keys = api("listApiKeys", A, 200, query={"limit": 10}).json
    check("listApiKeys has the three keys", lambda: {"admin", "writer", "reader"} <= {k["name"] for k in keys["data"]})
    api("listApiKeys", R, 403, code="insufficient_scope", label="with a read key")
    nk = api("createApiKey", A, 201, body={"name": "temp", "scopes": ["read", "manage"], "expires_in": "1d"}).json or {}
    check("createApiKey shows the token and the expiry",
          lambda: nk["token"].startswith("whk_") and nk["expires_at"] > int(time.time() * 1000))
    api("createApiKey", A, 422, label="without scopes", body={"name": "x", "scopes": []})
    api("createApiKey", A, 422, label="with an unknown scope", body={"name": "x", "scopes": ["root"]})
    me = api("getApiKeySelf", nk.get("token"), 200, label="with the new key").json
    check("getApiKeySelf is the calling key", lambda: (me["id"], sorted(me["scopes"])) == (nk["id"], ["manage", "read"]))
    wme = api("getApiKeySelf", W, 200, label="with an events:write key").json
    check("an events:write key may read itself", lambda: wme["scopes"] == ["events:write"])
    api("getApiKeySelf", None, 401, label="without a key")
    api("revokeApiKey", A, 204, args={"id": nk.get("id", "key_x")})
    api("getApiKeySelf", nk.get("token"), 401, code="authentication_failed", label="with a revoked key")
    api("revokeApiKey", A, 404, label="unknown", args={"id": "key_000000000000"})

    bad_input(tokens)
    same_as_cli(tokens)
    tenancy(tokens, recv_base)

    api("deleteTarget", A, 204, args={"id": "spare"})
    api("deleteTarget", A, 404, label="again", args={"id": "spare"})


CTL = None  # runs webhookctl on the test's database


def secrets(tokens, hook):
    """S8 and S15: the secret changes only by rotation, hand-set secrets carry
    128 bits, and capability URLs are masked for keys below admin."""
    A, R = tokens["admin"], tokens["reader"]
    before = http("GET", f"{BASE}/targets/spare", A).json
    p = api("updateTarget", A, 422, label="with a secret", args={"id": "spare"},
            body={"secret": "whsec_" + base64.b64encode(os.urandom(32)).decode()})
    check("the 422 points to rotation", lambda: "/secret/rotate" in p.json["detail"])
    for weak in ("short", "whsec_" + base64.b64encode(os.urandom(15)).decode(), "x" * 23):
        api("createTarget", A, 422, label=f"with a {len(weak)}-character secret", body={"id": "weak", "url": hook, "secret": weak})
        api("rotateTargetSecret", A, 422, label=f"to a {len(weak)}-character secret", args={"id": "spare"}, body={"secret": weak})
    after = http("GET", f"{BASE}/targets/spare", A).json
    check("the refused requests changed nothing", lambda: after == before and http("GET", f"{BASE}/targets/weak", A).status == 404)
    url = hook + "?token=abc123&flag"
    api("createTarget", A, 201, label="with a capability URL", body={"id": "cap", "url": url, "event_filters": ["none.*"]})
    check("a read key sees its query values masked", lambda: http("GET", f"{BASE}/targets/cap", R).json["url"]
          == hook + "?token=***&***")
    check("an admin key sees it whole", lambda: http("GET", f"{BASE}/targets/cap", A).json["url"] == url)
    api("deleteTarget", A, 204, label="with a capability URL", args={"id": "cap"})


def query_parameters(tokens):
    """The query parameters each operation takes are those the spec lists: a
    documented one given twice is "given more than once" (so the server
    knows it), any other name is "unknown", with a did-you-mean. The two
    values differ: cpp-httplib folds identical name=value pairs into one."""
    A = tokens["admin"]
    documented = {op_id: {deref(p)["name"] for p in op.get("parameters", []) if deref(p)["in"] == "query"}
                  for op_id, (_, _, op) in OPS.items()}
    every_name = set().union(*documented.values()) | {"zz_unknown"}
    for op_id, (method, template, op) in OPS.items():
        args = {"id": "nope", "uid": "msg_00000000000000000000000000", "app": "acme"}
        path = template.format(**{k: v for k, v in args.items() if "{" + k + "}" in template})
        for name in sorted(every_name):
            twice = name in documented[op_id]
            raw = f"{name}=1&{name}=2" if twice else f"{name}=1"
            ans = http(method, f"{BASE}{path}?{raw}", A, body={} if method in ("POST", "PATCH") else None)
            want = f'the query parameter "{name}" is given more than once' if twice else f'unknown query parameter "{name}"'
            report(ans.status == 400 and (ans.json or {}).get("detail", "").startswith(want)
                   and "400" in op["responses"], f"{op_id} ?{raw} -> 400 {want!r}",
                   f"{ans.status} {ans.body[:200]!r}")
    ans = api("listDeliveries", A, 400, label="?target=x", query={"target": "x"})
    check("the 400 suggests target_id", lambda: ans.json["detail"] == 'unknown query parameter "target"; did you mean "target_id"?')


def bad_input(tokens):
    A, R = tokens["admin"], tokens["reader"]
    before = http("GET", f"{BASE}/events?limit=250", A).json["data"]
    api("createEvent", A, 422, label="with a priority of the wrong type", body={"type": "x.y", "priority": "high"})
    api("createTarget", A, 413, code="payload_too_large", label="with a body over 64 KiB",
        body={"id": "big", "url": "http://example.com/", "name": "n" * 70_000})
    api("createTarget", A, 422, label="nested 40 levels deep",
        raw=b'{"id":"deep","url":"http://example.com/","metadata":' + b"[" * 40 + b"]" * 40 + b"}")
    api("createEvent", A, 422, label="with targets of the wrong type", body={"type": "x.y", "targets": "recv"})
    api("createEvent", A, 413, code="payload_too_large", label="with a payload over --max-payload",
        raw=b'{"type":"x.y","data":"' + b"x" * (1024 * 1024 + 10) + b'"}')
    # Only the headers are sent: the answer must come before any body byte.
    u = urllib.parse.urlsplit(BASE)
    conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", u.path + "/events")
    conn.putheader("Authorization", "Bearer " + A)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(64 * 1024 * 1024))
    conn.endheaders()
    big = conn.getresponse()
    big_body = json.loads(big.read() or b"{}")
    conn.close()
    check("a body over the server's limit is 413 before it is read",
          lambda: big.status == 413 and big_body.get("code") == "payload_too_large", f"{big.status} {big_body}")
    api("createEventBatch", A, 422, label="with 10,001 events",
        raw=json.dumps([{"type": "x.y"}] * 10_001).encode())
    api("createEventBatch", A, 400, label="with a malformed NDJSON line", raw=b'{"type":"x.y"}\n{"type":',
        ctype="application/x-ndjson")
    after = http("GET", f"{BASE}/events?limit=250", A).json["data"]
    check("nothing was written by the refused requests", lambda: len(after) == len(before))
    r = CTL("api-key", "create", "short", "--scope", "read", "--expires", "1ms")
    token = r.stdout.strip().splitlines()[-1]
    time.sleep(0.02)
    api("getApiKeySelf", token, 401, code="authentication_failed", label="with an expired key")
    check("the token never appears in webhookctl api-key list",
          # whk_key_<id>_<secret>: the secret is base64url, so it may hold "_" itself
          lambda: token.split("_", 3)[3] not in CTL("api-key", "list", "--json").stdout)


def tenancy(tokens, recv_base):
    """Applications are a boundary (DESIGN.md "HTTP API", Tenants): a key bound
    to an application, and a portal session, see and act only inside it. The
    walk below calls every operation of the spec that takes a key, aimed at
    another application's records, and asserts that none answers them:
    records are 404 in the very words of one that does not exist, lists hold
    none of them, naming the other application is 403, and nothing of it
    changed."""
    A = tokens["admin"]

    def token_of(ans):
        return (ans.json or {}).get("token", "")

    # Two applications, each with a target that delivers and one that
    # dead-letters, and an application key of each.
    for app in ("acme", "globex"):
        api("createTarget", A, 201, label=f"of {app}", body={"id": f"{app}-hook", "url": f"{recv_base}/{app}", "app_id": app,
                                                                "event_filters": [f"{app}.*", "shared.*"]})
        api("createTarget", A, 201, label=f"of {app}, that dead-letters",
            body={"id": f"{app}-reject", "url": recv_base + "/reject", "app_id": app, "event_filters": ["reject.*"],
                  "max_attempts": 1})
    acme = token_of(api("createApiKey", A, 201, label="bound to acme",
                        body={"name": "acme", "scopes": ["admin", "events:write"], "app_id": "acme"}))
    globex = token_of(api("createApiKey", A, 201, label="bound to globex",
                          body={"name": "globex", "scopes": ["admin", "events:write"], "app_id": "globex"}))
    me = api("getApiKeySelf", globex, 200, label="of an application key").json
    check("an application key says its application", lambda: (me["app_id"], me["kind"]) == ("globex", "key"))

    # acme's records, made with acme's key: the application is implied.
    ev = api("createEvent", acme, 202, label="with an application key", body={"type": "acme.created", "data": {"secret": "acme"}},
             headers={"Idempotency-Key": "shared-42"}).json
    check("an application key's event goes to its application's targets only",
          lambda: [x["target_id"] for x in ev["deliveries"]] == ["acme-hook"])
    rj = api("createEvent", acme, 202, label="to acme's rejecting target", body={"type": "reject.me"}).json
    acme_dl = rj["deliveries"][0]["id"]
    check("acme's rejected delivery is a dead letter", lambda: poll_delivery(A, acme_dl, "dead_letter")["status"] == "dead_letter")
    acme_did = ev["deliveries"][0]["id"]
    check("acme's event is delivered", lambda: poll_delivery(A, acme_did, "delivered")["status"] == "delivered")
    # Idempotency keys are per application: globex may use acme's.
    gev = api("createEvent", globex, 202, label="with another application's idempotency key",
              body={"type": "globex.created", "data": {"g": 1}}, headers={"Idempotency-Key": "shared-42"}).json
    check("the same idempotency key in another application is a new event", lambda: gev["id"] != ev["id"])
    shared = api("createEvent", globex, 202, label="of a type both subscribe to", body={"type": "shared.x"}).json
    check("an application's event never reaches another's target",
          lambda: [x["target_id"] for x in shared["deliveries"]] == ["globex-hook"])

    before = {
        "target": http("GET", f"{BASE}/targets/acme-hook", A).json,
        "delivery": http("GET", f"{BASE}/deliveries/{acme_did}", A).json,
        "dead": http("GET", f"{BASE}/deliveries/{acme_dl}", A).json,
        "event": http("GET", f"{BASE}/events/{ev['id']}", A).json,
    }
    portal = api("createPortalSession", A, 201, args={"app": "globex"}, body={"ttl": "1h"}).json
    check("a portal session's URL carries its token in the fragment only",
          lambda: portal["url"].endswith("/#portal=" + portal["token"]) and "?" not in portal["url"])
    P = portal["token"]

    acme_ids = {str(acme_did), str(acme_dl), ev["id"], "acme-hook", "acme-reject", "acme"}

    def leaks(doc):
        text = json.dumps(doc)
        return [x for x in acme_ids if f'"{x}"' in text or f": {x}," in text or f": {x}}}" in text]

    no_event = f"there is no event '{ev['id']}'"
    no_target = "there is no target 'acme-hook'"
    # Every operation that takes a key: (expected status, args, query, body,
    # the 404's words when 404), aimed at acme while holding globex's key.
    probes = {
        "createEvent": [(403, {}, None, {"type": "acme.created", "app_id": "acme"}, None),
                        (404, {}, None, {"type": "acme.created", "targets": ["acme-hook"]},
                         "there is no target 'acme-hook' in the application 'globex'")],
        "createEventBatch": [(403, {}, None, [{"type": "acme.created", "app_id": "acme"}], None),
                             (404, {}, None, [{"type": "acme.created", "targets": ["acme-hook"]}], None)],
        "listEvents": [(200, {}, {"limit": 250}, None, None), (403, {}, {"app_id": "acme"}, None, None)],
        "getEvent": [(404, {"uid": ev["id"]}, None, None, no_event)],
        "listTargets": [(200, {}, {"limit": 250}, None, None), (403, {}, {"app_id": "acme"}, None, None)],
        "createTarget": [(403, {}, None, {"id": "stolen", "url": recv_base + "/x", "app_id": "acme"}, None),
                         (403, {}, None, {"id": "stolen", "url": recv_base + "/x", "app_id": ""}, None),
                         (403, {}, None, {"id": "peek", "url": recv_base + "/x", "ca_bundle": "/etc/shadow"}, None)],
        "getTarget": [(404, {"id": "acme-hook"}, None, None, no_target)],
        "updateTarget": [(404, {"id": "acme-hook"}, None, {"url": recv_base + "/stolen"}, no_target)],
        "deleteTarget": [(404, {"id": "acme-hook"}, None, None, no_target)],
        "enableTarget": [(404, {"id": "acme-hook"}, None, None, no_target)],
        "disableTarget": [(404, {"id": "acme-hook"}, None, None, no_target)],
        "rotateTargetSecret": [(404, {"id": "acme-hook"}, None, {}, no_target)],
        "sendTestEvent": [(404, {"id": "acme-hook"}, None, {}, no_target)],
        "listDeliveries": [(200, {}, {"limit": 250}, None, None), (200, {}, {"target_id": "acme-hook"}, None, None),
                           (403, {}, {"app_id": "acme"}, None, None)],
        "getDelivery": [(404, {"id": acme_did}, None, None, f"there is no delivery {acme_did}")],
        "resendDeliveries": [(404, {}, None, {"ids": [acme_did]}, f"there is no delivery {acme_did}")],
        "listDeadLetters": [(200, {}, {"limit": 250}, None, None), (200, {}, {"target_id": "acme-reject"}, None, None),
                            (403, {}, {"app_id": "acme"}, None, None)],
        "retryDeadLetters": [(404, {}, None, {"ids": [acme_dl]}, f"there is no delivery {acme_dl}"),
                             (404, {}, None, {"all": True, "target_id": "acme-reject"}, "there is no target 'acme-reject'"),
                             (403, {}, None, {"all": True, "app_id": "acme"}, None),
                             (202, {}, None, {"all": True}, None)],
        "releaseDeadLetter": [(404, {"id": acme_dl}, None, None, f"there is no delivery {acme_dl}")],
        "purgeDeadLetters": [(403, {}, None, {"older_than": "1ms", "app_id": "acme"}, None),
                             (200, {}, None, {"older_than": "1ms"}, None)],
        "getStats": [(200, {}, None, None, None), (404, {}, {"target_id": "acme-hook"}, None, no_target),
                     (403, {}, {"app_id": "acme"}, None, None)],
        "getStatsTimeseries": [(200, {}, None, None, None), (404, {}, {"target_id": "acme-hook"}, None, no_target),
                               (403, {}, {"app_id": "acme"}, None, None)],
        "listApiKeys": [(403, {}, None, None, None)],
        "createApiKey": [(403, {}, None, {"name": "escalate", "scopes": ["admin"]}, None)],
        "getApiKeySelf": [(200, {}, None, None, None)],
        "getDefaults": [(200, {}, None, None, None)],
        "setDefaults": [(403, {}, None, {"retry": {"max_attempts": 1}}, None)],
        "revokeApiKey": [(403, {"id": "key_000000000000"}, None, None, None)],
        "createPortalSession": [(403, {"app": "acme"}, None, {}, None), (403, {"app": "globex"}, None, {}, None)],
        "revokePortalSessions": [(403, {"app": "acme"}, None, None, None)],
    }
    # What a portal session may not do at all (403 before anything is read).
    not_for_portal = {"createEvent", "createEventBatch", "deleteTarget", "purgeDeadLetters", "getDefaults", "setDefaults",
                      "listApiKeys", "createApiKey",
                      "revokeApiKey", "createPortalSession", "revokePortalSessions"}
    keyed = {op_id for op_id, (_, _, op) in OPS.items() if op.get("security") != []}
    check("the isolation walk has a probe for every operation that takes a key",
          lambda: keyed == set(probes), f"missing {sorted(keyed - set(probes))}")
    walked = set()
    for who, tok in (("an application key", globex), ("a portal session", P)):
        for op_id, cases in probes.items():
            for status, args, query, body, words in cases:
                if who == "a portal session" and op_id in not_for_portal:
                    status, words = 403, None
                label = f"with {who} of another application {json.dumps(args or query or body)[:60]}"
                ans = api(op_id, tok, status, args=args, query=query, body=body, label=label)
                walked.add(op_id)
                if words:
                    check(f"{op_id}: the 404 says {words!r}, as for one that does not exist",
                          lambda: ans.json["detail"] == words)
                if status in (200, 202):
                    check(f"{op_id} with {who}: nothing of the other application in the answer",
                          lambda: not leaks(ans.json), f"{leaks(ans.json)}")
    after = {
        "target": http("GET", f"{BASE}/targets/acme-hook", A).json,
        "delivery": http("GET", f"{BASE}/deliveries/{acme_did}", A).json,
        "dead": http("GET", f"{BASE}/deliveries/{acme_dl}", A).json,
        "event": http("GET", f"{BASE}/events/{ev['id']}", A).json,
    }
    check(f"the isolation walk covered {len(walked)} operations with both credentials, and nothing of the other "
          "application changed", lambda: after == before and walked == set(probes),
          json.dumps({k: [before[k], after[k]] for k in before if before[k] != after[k]})[:400])
    print(f"# isolation: {len(walked)} operations walked with an application key and a portal session")

    # An operator key narrows every listing with ?app_id=.
    g = api("createEvent", globex, 202, label="to globex's rejecting target", body={"type": "reject.me"}).json
    check("globex's rejected delivery is a dead letter",
          lambda: poll_delivery(A, g["deliveries"][0]["id"], "dead_letter")["status"] == "dead_letter")
    for op_id in ("listEvents", "listTargets", "listDeliveries", "listDeadLetters"):
        page = api(op_id, A, 200, label="?app_id=globex", query={"app_id": "globex", "limit": 250}).json
        check(f"{op_id}?app_id=globex holds none of acme's", lambda: page["data"] and not leaks(page))
    api("listTargets", A, 400, label="?app_id=not valid", query={"app_id": "not valid"})

    # The portal session inside its own application.
    mine = api("listTargets", P, 200, label="with a portal session").json
    check("a portal session lists its application's targets only",
          lambda: sorted(t["id"] for t in mine["data"]) == ["globex-hook", "globex-reject"])
    made = api("createTarget", P, 201, label="with a portal session", body={"id": "globex-new", "url": recv_base + "/globex"}).json
    check("a target made in the portal belongs to its application", lambda: made["app_id"] == "globex")
    api("updateTarget", P, 200, label="with a portal session", args={"id": "globex-new"}, body={"name": "Mine"})
    api("rotateTargetSecret", P, 200, label="with a portal session", args={"id": "globex-new"}, body={})
    t = api("sendTestEvent", P, 202, label="with a portal session", args={"id": "globex-new"}).json
    check("the test event goes to that target alone", lambda: [x["target_id"] for x in t["deliveries"]] == ["globex-new"])
    api("disableTarget", P, 200, label="with a portal session", args={"id": "globex-new"})
    api("sendTestEvent", R_or(tokens), 403, label="with a read key", args={"id": "globex-new"})
    gone = api("revokePortalSessions", A, 200, args={"app": "globex"}).json
    check("revoking the application's sessions ends this one", lambda: gone["revoked"] == 1)
    api("listTargets", P, 401, label="with a revoked portal session")
    short = api("createPortalSession", A, 201, label="lasting 1ms", args={"app": "globex"}, body={"ttl": "1ms"}).json
    time.sleep(0.01)
    api("listTargets", short["token"], 401, label="with an expired portal session")
    api("createPortalSession", A, 422, label="for 8 days", args={"app": "globex"}, body={"ttl": "8d"})
    api("createPortalSession", A, 422, label="for a bad application id", args={"app": "not valid!"}, body={})
    api("createPortalSession", R_or(tokens), 403, label="with a read key", args={"app": "globex"}, body={})


def R_or(tokens):
    return tokens["reader"]


def same_as_cli(tokens):
    """webhookctl and the API give the same answers on the same database."""
    R = tokens["reader"]

    def cli_json(*args):
        r = CTL("--json", *args)
        return json.loads(r.stdout) if r.returncode == 0 else {"exit": r.returncode, "stderr": r.stderr}

    d = http("GET", f"{BASE}/deliveries?limit=1&status=delivered", R).json["data"][0]
    check("delivery show --json equals GET /deliveries/{id}",
          lambda: cli_json("delivery", "show", str(d["id"])) == http("GET", f"{BASE}/deliveries/{d['id']}", R).json)
    check("target show --json equals GET /targets/{id}",
          lambda: cli_json("target", "show", "recv") == http("GET", f"{BASE}/targets/recv", R).json)
    check("target list --json equals GET /targets",
          lambda: cli_json("target", "list") == http("GET", f"{BASE}/targets?limit=250", R).json["data"])
    cli_stats, api_stats = cli_json("stats"), http("GET", f"{BASE}/stats", R).json
    for s in (cli_stats, api_stats):
        s.pop("oldest_due_age_ms", None)  # measured at the moment of asking
    check("stats --json equals GET /stats", lambda: cli_stats == api_stats)
    unknown = CTL("target", "show", "nope")
    ans = http("GET", f"{BASE}/targets/nope", R)
    check("the CLI's error sentence is the API's detail",
          lambda: unknown.stderr.strip() == "webhookctl: " + ans.json["detail"] + ".")


def main():
    global BASE
    bins = {k: os.environ.get(k) for k in ("WEBHOOKD_BIN_WEBHOOKD", "WEBHOOKD_BIN_WEBHOOKCTL", "WEBHOOKD_BIN_RECEIVER")}
    if not all(bins.values()):
        print("not ok - set " + ", ".join(k for k, v in bins.items() if not v))
        return 1
    check_spec_itself()
    tmp = tempfile.mkdtemp(prefix="webhookd-api-")
    store = Store(tmp)
    db = store.locator
    procs = []
    try:
        def ctl(*args):
            return subprocess.run([bins["WEBHOOKD_BIN_WEBHOOKCTL"], "--db", db, *args],
                                  capture_output=True, text=True, timeout=60)
        global CTL
        CTL = ctl
        if not report(ctl("init").returncode == 0, "webhookctl init"):
            return 1
        tokens = {}
        for name, scopes in (("admin", ["admin"]), ("writer", ["events:write"]), ("reader", ["read"])):
            r = ctl("api-key", "create", name, *[a for s in scopes for a in ("--scope", s)])
            lines = [x.strip() for x in r.stdout.splitlines() if x.strip()]
            tokens[name] = lines[-1] if lines else ""
            report(r.returncode == 0 and tokens[name].startswith("whk_"), f"webhookctl api-key create {name}", r.stderr.strip())

        # The receiver prints "listening on HOST:PORT" on stdout once bound.
        recv = Proc([bins["WEBHOOKD_BIN_RECEIVER"], "--port", "0", "--quiet", "--script", "/reject=400"])
        procs.append(recv)
        m = recv.wait_for(r"listening on (\S+):(\d+)")
        if not report(m is not None, "the receiver is listening", " | ".join(recv.tail())):
            return 1
        recv_base = f"http://{m.group(1)}:{m.group(2)}"

        daemon = Proc([bins["WEBHOOKD_BIN_WEBHOOKD"], "--db", db, "--api-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0",
                       "--allow-private-networks", "--log-level", "info", "--poll-interval", "200ms"])
        procs.append(daemon)
        m = daemon.wait_for(r"api listening.*\baddress=\"?([^\s\"]+)")
        if not report(m is not None, "webhookd logs 'api listening address=...'", " | ".join(daemon.tail())):
            return 1
        BASE = f"http://{m.group(1)}/api/v1"

        try:
            scenario(tokens, recv_base)
        except Exception:  # noqa: BLE001: a bug in the test or an answer it could not read
            report(False, "the scenario ran to the end", traceback.format_exc().strip().replace("\n", " | "))
        missing = sorted(set(OPS) - exercised)
        report(not missing, f"every operation in the spec was called ({len(exercised)}/{len(OPS)})", ", ".join(missing))

        code = daemon.stop()
        report(code == 0, "webhookd exits 0 on SIGTERM", f"exit {code}")
        if failures:
            print("# webhookd's last log lines:")
            for line in daemon.tail():
                print("#   " + line)
    finally:
        for p in procs:
            p.stop()
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# {failures} failed" if failures else "# all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

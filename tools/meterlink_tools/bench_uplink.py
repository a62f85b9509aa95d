"""Uplink figures: bytes on air per month at a 1-minute send period (site S, each modem), the
same readings as naive JSON (one HTTPS request per reading set), and power-on to first upload.

They run `meterlink sim` in virtual time and read the modem simulator's byte count, so they
need the modem simulator (`site.modem` with `bytes_on_air` and `bill_http`); without it they
report an error saying so.
"""
import argparse
import json
import tempfile

from . import simclock
from .simrun import run_site

DURATION = "1h"
MONTH_S = 30 * 86400
MB = 1e6
GOAL_MB_MONTH = 40
NAIVE_ANSWER = b'{"status":"ok"}'

_runs = {}


def _run(modem):
    if modem in _runs:
        return _runs[modem]
    args = argparse.Namespace(site="small", modem=modem, duration=DURATION, period=1, speed="max",
                              outage=[], forever=False, json=True, rundir=None, heapsize=None)
    rundir = tempfile.mkdtemp(prefix="meterlink-bench-uplink-")
    extra = {}

    def on_site(site):
        extra["naive"] = _naive_json_bytes(site) if site.modem is not None else None

    summary = simclock.run(lambda m: run_site(args, m, rundir, on_site=on_site))
    summary.update(extra)
    _runs[modem] = summary
    return summary


def _need_modem(s):
    if s.get("bytes_on_air_at_end") is None:
        raise RuntimeError("needs the modem simulator: the site has no modem with bytes_on_air")


def _per_month(nbytes, seconds):
    return round(nbytes / seconds * MONTH_S / MB, 2)


def _mb_month(modem):
    s = _run(modem)
    _need_modem(s)
    return [{"figure": "uplink_mb_month_site_s_%s" % modem,
             "value": _per_month(s["bytes_on_air_at_end"], s["duration_s"]), "unit": "MB/month",
             "goal": GOAL_MB_MONTH, "goal_op": "<=", "send_period_min": 1,
             "measured_s": s["duration_s"], "reading_sets": s["taken"],
             "note": "bytes on air as the modem simulator bills them, boot included; MB = 10^6 B"}]


def mb_month_sim7600():
    return _mb_month("sim7600")


def mb_month_sim800():
    return _mb_month("sim800")


def _naive_json_bytes(site):
    """Bill every stored reading set as its own HTTPS POST of plain JSON."""
    bill = getattr(site.modem, "bill_http", None)
    if bill is None:
        raise RuntimeError("the modem simulator has no bill_http(body_len, answer_len, tls)")
    total = 0
    for source, t, ok, td, values in site.collector.reading_sets(site.device_id):
        doc = {"device": site.device_id, "source": source, "time": t if t is not None else td,
               "clock_ok": ok, "values": {k: {"value": v, "unit": u} for k, (v, u) in values.items()}}
        body = json.dumps(doc).encode()
        total += bill(len(body), len(NAIVE_ANSWER), True)
    return total


def mb_month_naive_json():
    s = _run("sim7600")
    _need_modem(s)
    if s.get("naive") is None:
        raise RuntimeError("needs the modem simulator's billing model")
    return [{"figure": "uplink_mb_month_naive_json", "value": _per_month(s["naive"], s["duration_s"]),
             "unit": "MB/month", "reading_sets": s["stored"],
             "note": "the same reading sets as JSON, one HTTPS request each, same billing model"}]


def boot_to_first_upload():
    s = _run("sim7600")
    if s.get("first_upload_s") is None:
        raise RuntimeError("no upload was acknowledged (needs the modem simulator)")
    return [{"figure": "boot_to_first_upload_s", "value": round(s["first_upload_s"], 1), "unit": "s",
             "note": "simulated power-on to the collector's first answer (a status upload that "
                     "also sets the clock), SIM7600"}]

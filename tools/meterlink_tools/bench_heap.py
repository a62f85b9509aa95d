"""Heap figures: the live Python heap of the firmware on the host board over full cycles."""
import argparse
import tempfile

from . import simclock
from .simrun import run_site

SITE_S_DURATION = "30m"


def _run(site, duration):
    args = argparse.Namespace(site=site, modem="sim7600", duration=duration, period=None,
                              speed="max", outage=[], forever=False, json=True, rundir=None,
                              heapsize=None)
    rundir = tempfile.mkdtemp(prefix="meterlink-bench-")
    return simclock.run(lambda m: run_site(args, m, rundir))


def heap_peak_site_s():
    s = _run("small", SITE_S_DURATION)
    return [{"figure": "heap_peak_kb_site_s", "value": s["heap_peak_kb"], "unit": "KiB",
             "total_kb": s["heap_peak_total_kb"],
             "note": "firmware's live heap (after a collection at every wait) in the unix port, "
                     "whose objects are about twice an ESP32's; total_kb adds the host board's "
                     "own modules (machine, RFC 2217), which are C code on the ESP32",
             "simulated_s": s["simulated_s"]}]


SITE_L_DURATION = "10m"


def heap_peak_site_l():
    s = _run("large", SITE_L_DURATION)
    return [{"figure": "heap_peak_kb_site_l", "value": s["heap_peak_kb"], "unit": "KiB",
             "total_kb": s["heap_peak_total_kb"],
             "note": "as heap_peak_kb_site_s, for 32 meters and 64 Modbus devices on one line",
             "simulated_s": s["simulated_s"]}]

"""`meterlink sim`: the firmware on the host board at a simulated site, in virtual time.

It runs until the simulated duration is over (or Ctrl-C with --forever), then prints a
summary; with --json the last line is one JSON object.
"""
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from . import simclock
from .hostboard import HostBoard
from .sim import site as sitemod
from .units import parse_duration, parse_window


def _speed(text):
    if text in ("max", "inf", None):
        return None
    v = float(text)
    if v <= 0:
        raise ValueError("--speed must be positive or max")
    return v


def _pushes(args):
    """[(seconds, document)] from --push TIME:FILE."""
    out = []
    for item in getattr(args, "push", None) or ():
        when, sep, path = item.partition(":")
        if not sep or not path:
            raise ValueError("--push TIME:FILE, e.g. 5m:site.json (got %r)" % item)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError("--push %s: %s" % (path, e)) from None
        if not isinstance(doc, dict):
            raise ValueError("--push %s: not a JSON object" % path)
        out.append((parse_duration(when), doc))
    return out


def _check_args(args):
    parse_duration(args.duration)
    for w in args.outage:
        parse_window(w)
    _pushes(args)
    if args.period is not None and not (1 <= args.period <= 240):
        raise ValueError("--period is the send period in minutes: 1 to 240")
    _speed(args.speed)


SEALED = re.compile(r"spool: sealed batch \d+: (\d+) sets")
FIRST_UPLOAD = "uplink: first upload acknowledged"
SPOOL_EMPTY = "spool empty"
DRAIN_MARGIN_S = 120


class Console:
    """What the firmware's console says that the summary counts."""

    def __init__(self, loop, quiet):
        self.loop = loop
        self.quiet = quiet
        self.taken = 0
        self.first_upload_s = None
        self.empty = asyncio.Event()

    def __call__(self, text):
        if not self.quiet:
            print("[%9.1fs] %s" % (self.loop.time(), text))
        m = SEALED.search(text)
        if m:
            self.taken += int(m.group(1))
        elif FIRST_UPLOAD in text and self.first_upload_s is None:
            self.first_upload_s = self.loop.time()
        elif SPOOL_EMPTY in text:
            self.empty.set()


def _schedule_outages(site, loop, windows):
    for start, length in windows:
        loop.call_at(start, site.set_server_reachable, False)
        loop.call_at(start + length, site.set_server_reachable, True)


def _show_arrivals(site, loop):
    """Print what reaches the collector, beside the firmware's console."""
    collector = site.collector
    ingest = collector.ingest
    seen = {"stored": 0}

    def shown(body):
        status, answer, ctype = ingest(body)
        stored = collector.stats(site.device_id)["stored"]
        print("[%9.1fs] collector: HTTP %d, %d B in, %d reading sets stored (+%d)"
              % (loop.time(), status, len(body), stored, stored - seen["stored"]))
        seen["stored"] = stored
        return status, answer, ctype
    collector.ingest = shown


def _bytes_on_air(site):
    v = getattr(site.modem, "bytes_on_air", None)
    return v() if callable(v) else v


async def _drain(site, runner, console, cfg):
    """The end of a run: no new readings; wait until the firmware has delivered what it took
    (or until the last batch was sealed by age and one more send period went by)."""
    site.quiesce()
    console.empty.clear()
    period_s = float(cfg.get("send_period_min", 15)) * 60
    seal_s = float(cfg.get("spool", {}).get("seal_max_s", 900))
    waiter = asyncio.ensure_future(console.empty.wait())
    await asyncio.wait({runner, waiter}, timeout=seal_s + 2 * period_s + DRAIN_MARGIN_S,
                       return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()


async def run_site(args, master, rundir, on_site=None):
    """Run the site; on_site(site) may read the simulators before they are closed."""
    loop = asyncio.get_running_loop()
    duration_s = None if args.forever else parse_duration(args.duration)
    site = await sitemod.build(args.site, loop, master, args, rundir=rundir)
    console = Console(loop, quiet=args.json)
    files = {"config.json": json.dumps(site.config)}
    files.update(site.files)
    heapsize = args.heapsize or site.heapsize
    hb = HostBoard(rundir, clock=master, uarts=site.uarts(), modem_model=args.modem,
                   files=files, heap_probe=True, on_line=console,
                   **({"heapsize": heapsize} if heapsize else {}))
    _schedule_outages(site, loop, [parse_window(w) for w in args.outage])
    if not args.json and site.collector is not None:
        _show_arrivals(site, loop)
    if site.collector is not None:
        from .sim.collector_site import push
        say = (lambda text: None) if args.json else (lambda text: print("[%9.1fs] sim: %s" % (loop.time(), text)))
        for t, doc in _pushes(args):
            loop.call_at(t, push, site, doc, say)
    wall0 = time.monotonic()
    runner = asyncio.create_task(hb.run())
    end_us = None          # the LEDs are shown as they were at the end of the duration: in the
    try:                   # drain after it the devices no longer answer
        if duration_s is None:
            await runner
        else:
            done, _ = await asyncio.wait({runner}, timeout=duration_s)
            at_end = _bytes_on_air(site)
            end_us = int(loop.time() * 1e6)
            if not done:
                if site.collector is not None:
                    await _drain(site, runner, console, site.config)
                hb.stop()
                await runner
        summary = {
            "site": args.site,
            "modem": args.modem,
            "simulated_s": round(loop.time(), 3),
            "wall_s": round(time.monotonic() - wall0, 3),
            "boots": [{"cause": b.cause, "ended": b.ended} for b in hb.boots],
            "heap_peak_kb": round((hb.heap_peak - hb.heap_base) / 1024, 1),
            "heap_peak_total_kb": round(hb.heap_peak / 1024, 1),
            "leds": {name: hb.pin_state(name, end_us)
                     for name in sorted({n for _, n, _ in hb.pins() if n.startswith("LED_")})},
            "duration_s": duration_s,
            "taken": console.taken,
            "first_upload_s": console.first_upload_s,
            "bytes_on_air": _bytes_on_air(site),
        }
        if duration_s is not None:
            summary["bytes_on_air_at_end"] = at_end
        summary.update(site.summary())
        if "stored" in summary:
            summary["lost"] = console.taken - summary["stored"]
        if on_site is not None:
            on_site(site)
    finally:
        site.close()
    return summary


def main(args):
    try:
        _check_args(args)
    except ValueError as e:
        print("meterlink sim: %s" % e, file=sys.stderr)
        return 2
    rundir = Path(args.rundir) if args.rundir else Path(tempfile.mkdtemp(prefix="meterlink-sim-"))
    if rundir.exists() and any(rundir.iterdir()):
        print("meterlink sim: --rundir %s is not empty (a run starts from a blank flash and an "
              "empty collector)" % rundir, file=sys.stderr)
        return 2
    rundir.mkdir(parents=True, exist_ok=True)
    summary = simclock.run(lambda m: run_site(args, m, rundir), speed=_speed(args.speed))
    if args.json:
        print(json.dumps(summary))
    else:
        print("-- summary (%s) --" % rundir)
        for k, v in summary.items():
            print("%-14s %s" % (k + ":", v))
    ok = all(b["ended"] in ("exit",) for b in summary["boots"][-1:])
    return 0 if ok else 1

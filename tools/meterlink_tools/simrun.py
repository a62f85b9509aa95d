"""`meterlink sim`: the firmware on the host board at a simulated site, in virtual time.

It runs until the simulated duration is over (or Ctrl-C with --forever), then prints a
summary; with --json the last line is one JSON object.
"""
import asyncio
import json
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


def _check_args(args):
    parse_duration(args.duration)
    for w in args.outage:
        parse_window(w)
    if args.period is not None and not (1 <= args.period <= 240):
        raise ValueError("--period is the send period in minutes: 1 to 240")
    _speed(args.speed)


async def run_site(args, master, rundir):
    loop = asyncio.get_running_loop()
    duration_s = None if args.forever else parse_duration(args.duration)
    site = await sitemod.build(args.site, loop, master, args)
    quiet = args.json

    def on_line(text):
        if not quiet:
            print("[%9.1fs] %s" % (loop.time(), text))

    heapsize = args.heapsize or site.heapsize
    hb = HostBoard(rundir, clock=master, uarts=site.uarts(), modem_model=args.modem,
                   files={"config.json": json.dumps(site.config)}, heap_probe=True,
                   on_line=on_line, **({"heapsize": heapsize} if heapsize else {}))
    wall0 = time.monotonic()
    runner = asyncio.create_task(hb.run())
    try:
        if duration_s is None:
            await runner
        else:
            done, _ = await asyncio.wait({runner}, timeout=duration_s)
            if not done:
                hb.stop()
                await runner
    finally:
        site.close()
    summary = {
        "site": args.site,
        "modem": args.modem,
        "simulated_s": round(loop.time(), 3),
        "wall_s": round(time.monotonic() - wall0, 3),
        "boots": [{"cause": b.cause, "ended": b.ended} for b in hb.boots],
        "heap_peak_kb": round((hb.heap_peak - hb.heap_base) / 1024, 1),
        "heap_peak_total_kb": round(hb.heap_peak / 1024, 1),
        "leds": {name: hb.pin_state(name) for name in sorted({n for _, n, _ in hb.pins() if n.startswith("LED_")})},
    }
    summary.update(site.summary())
    return summary


def main(args):
    try:
        _check_args(args)
    except ValueError as e:
        print("meterlink sim: %s" % e, file=sys.stderr)
        return 2
    rundir = Path(args.rundir) if args.rundir else Path(tempfile.mkdtemp(prefix="meterlink-sim-"))
    summary = simclock.run(lambda m: run_site(args, m, rundir), speed=_speed(args.speed))
    if args.json:
        print(json.dumps(summary))
    else:
        print("-- summary (%s) --" % rundir)
        for k, v in summary.items():
            print("%-14s %s" % (k + ":", v))
    ok = all(b["ended"] in ("exit",) for b in summary["boots"][-1:])
    return 0 if ok else 1

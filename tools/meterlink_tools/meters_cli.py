"""`meterlink readout parse FILE` and `meterlink discover`: the meter reading tools.

Both run the firmware's own code in MicroPython: the parser in the unix port, discovery on
the host board against simulated meters, or on a device through mpremote.
"""
import asyncio
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from .cli import command
from .hostboard import HostBoard, micropython_env, micropython_exe

MPSCRIPTS = Path(__file__).resolve().parent / "mpscripts"


def parse_capture(path):
    """The JSON records the firmware's parser gives for a capture file."""
    p = subprocess.run([micropython_exe(), "-X", "heapsize=512K", str(MPSCRIPTS / "readout_parse.py"),
                        str(path)], capture_output=True, text=True, env=micropython_env(), timeout=60)
    records = []
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    if p.returncode != 0:
        records.append({"error": "the parser stopped: " + (p.stderr or p.stdout).strip()[-300:]})
    return records


def _show(records):
    for r in records:
        if "ident" in r:
            d = r["ident"]
            gen = ", generation <%d>" % d["generation"] if d["generation"] is not None else ""
            esc = ", escape \\%s" % d["escape"] if d["escape"] else ""
            print("identification: %s  (flag %s, mode %s, %d Bd%s%s, ident %r)"
                  % (d["text"], d["flag"], d["mode"], d["baud"], gen, esc, d["ident"]))
        elif "set" in r:
            s = r["set"]
            name = s["address"] or "(no address)"
            if s["index"] > 1:
                name = "  #%d" % s["index"]
            print("  %-22s %s%s" % (name, s["value"], " " + s["unit"] if s["unit"] else ""))
        elif "bad_line" in r:
            print("  BAD LINE: %r (%s)" % (r["bad_line"], r["error"]))
        elif "block" in r:
            b = r["block"]
            if b["bcc"] is None:
                print("BCC: none in the input (bare data block)")
            elif b["bcc"]:
                note = " (with the CR the capture's LF line ends dropped)" if b.get("restored_crlf") else ""
                print("BCC: verified%s, block %d" % (note, b["number"]))
            else:
                print("WARNING: BCC MISMATCH in block %d: got 0x%02x, computed 0x%02x; the data "
                      "above may be corrupt" % (b["number"], b["got"], b["computed"]), file=sys.stderr)
        elif "error" in r:
            print("ERROR: %s" % r["error"], file=sys.stderr)


def _failed(records):
    return any("error" in r or "bad_line" in r or ("block" in r and r["block"]["bcc"] is False)
               for r in records)


@command("readout", "parse captured IEC 62056-21 answers with the firmware's parser")
def readout(args):
    path = Path(args.file)
    if not path.is_file():
        print("meterlink readout parse: no such file: %s" % path, file=sys.stderr)
        return 2
    records = parse_capture(path)
    if args.json:
        for r in records:
            print(json.dumps(r))
            if "block" in r and r["block"]["bcc"] is False:
                print("WARNING: BCC MISMATCH in block %d" % r["block"]["number"], file=sys.stderr)
    else:
        _show(records)
    return 1 if _failed(records) else 0


def _readout_args(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = sub.add_parser("parse", help="parse a capture: [identification line] STX data ! CR LF ETX BCC, "
                                     "or the bare data block")
    q.add_argument("file")
    q.add_argument("--json", action="store_true", help="one JSON object per line")


readout.configure = _readout_args


# -- discovery --

BRANDS = ("makel", "luna", "kohler", "viko", "tedas2023")


async def _discover_sim(master, n, seed, rundir):
    from .sim.meter import IecMeter
    from .sim.wire import Medium, RFC2217Port
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    bus = Medium(loop, bus=True, seed=seed)
    port = RFC2217Port(bus, 2, clock=master)
    await port.serve()
    meters = []
    for i in range(n):
        serial = "%09d" % rng.randrange(10**8, 10**9)
        meters.append(bus.attach(IecMeter(BRANDS[i % len(BRANDS)], serial, bus=True,
                                          discoverable=True, seed=rng.randrange(1 << 30))))
    hb = HostBoard(rundir, clock=master, uarts={2: port.url}, script=MPSCRIPTS / "discover.py",
                   flash=False)
    await hb.boot()
    boot = await hb.wait()
    port.close()
    return boot, meters, loop.time()


def _discover_device(args):
    code = "from meterlink.drivers import iecdiscover; iecdiscover.main(%r)" % args.port
    cmd = [sys.executable, "-m", "mpremote", "connect", args.device, "exec", code]
    print("running on %s: %s" % (args.device, code), file=sys.stderr)
    return subprocess.call(cmd)


@command("discover", "find the meters on an RS-485 line (TEDAS-2023 /@! discovery)")
def discover(args):
    if args.device:
        return _discover_device(args)
    from . import simclock
    rundir = tempfile.mkdtemp(prefix="meterlink-discover-")
    boot, meters, took = simclock.run(lambda m: _discover_sim(m, args.meters, args.seed, rundir))
    found = [ln.split()[1] for ln in boot.output if ln.startswith("FOUND ")]
    present = sorted(m.address for m in meters)
    if args.json:
        print(json.dumps({"found": found, "simulated": present, "simulated_s": round(took, 3)}))
    else:
        print("simulated RS-485 line with %d meters (seed %d)" % (len(meters), args.seed))
        for a in found:
            print("  found %s" % a)
        missing = sorted(set(present) - set(found))
        print("%d found in %.1f s of line time%s" % (len(found), took,
              "; not found: " + ", ".join(missing) if missing else ""))
    if boot.code != 0:
        print("\n".join(boot.output[-20:]), file=sys.stderr)
        return 1
    return 0 if sorted(found) == present else 1


def _discover_args(p):
    p.add_argument("--device", metavar="SERIAL",
                   help="run on a device (its app stopped) through mpremote, e.g. /dev/ttyUSB0")
    p.add_argument("--port", default="rs485", help="the board's port (default rs485)")
    p.add_argument("--meters", type=int, default=8, help="simulated meters on the line (host board)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the simulated meters")
    p.add_argument("--json", action="store_true", help="one JSON object")


discover.configure = _discover_args

"""Modbus figures: 247 devices on one RS-485 line, one 20-register read each, 9600 8N1, 5 ms
response delay, polled by the whole firmware (modem capability included) on the host board."""
# modbus_cycle_ratio = poll cycle time / line-rate minimum.  The minimum of one cycle is, for
# each device, the request (8 bytes) and the answer (5 + 2 x 20 bytes) at 10 bits a byte, the
# device's 5 ms response delay, and t3.5 (3.5 characters) of silence after the answer.  The
# cycle is measured on the simulated bus, from the first device's request in one cycle to its
# request in the next (the poll period is shorter than a cycle: cycles follow back to back).
import asyncio
import functools
import json
import tempfile

from . import simclock
from .hostboard import HostBoard
from .sim import modem_site
from .sim.modbus import ModbusSlave, registers_for
from .sim.site import Site

DEVICES = 247
REGS = 20
BAUD = 9600
BITS_PER_CHAR = 10          # 8N1
DELAY_MS = 5.0
HEAPSIZE = "768K"           # the figure is the peak; the limit only has to leave room for it

PROFILE = {"name": "bench20", "title": "a device read as 10 float32 values in 20 registers",
           "source": "benchmark", "unverified": [], "fc": 3, "order": "high_first",
           "fields": [{"key": "value_%d" % i, "addr": 2 * i, "type": "f32", "unit": "V"}
                      for i in range(REGS // 2)]}


def cycle_minimum_s(n=DEVICES, regs=REGS, delay_ms=DELAY_MS, baud=BAUD, bits=BITS_PER_CHAR):
    char_s = bits / baud
    return n * ((8 + 5 + 2 * regs) * char_s + delay_ms / 1000 + 3.5 * char_s)


async def _run(master, rundir):
    loop = asyncio.get_running_loop()
    site = Site("bench247", loop, master)
    bus = await site.add_port("rs485", bus=True)
    await site.add_port("modem")
    await modem_site.populate(site, None)
    regs = registers_for(PROFILE, {"value_%d" % i: 230.0 + i for i in range(REGS // 2)})
    slaves = [bus.attach(ModbusSlave(u, regs, delay_ms=DELAY_MS)) for u in range(1, DEVICES + 1)]
    cycle_s = cycle_minimum_s()
    config = {"modbus": [{"id": "M%d" % u, "address": u, "profile": "bench20", "period_s": 1}
                         for u in range(1, DEVICES + 1)],
              "send_period_min": 240}
    hb = HostBoard(rundir, clock=master, uarts=site.uarts(), heapsize=HEAPSIZE, heap_probe=True,
                   files={"config.json": json.dumps(config), "profiles/bench20.json": json.dumps(PROFILE)})
    runner = asyncio.create_task(hb.run(max_boots=1))
    await asyncio.wait({runner}, timeout=2.2 * cycle_s + 5)
    hb.stop()
    await runner
    site.close()
    return slaves, hb


@functools.lru_cache(maxsize=1)
def run_247():
    rundir = tempfile.mkdtemp(prefix="meterlink-bench-modbus-")
    return simclock.run(lambda m: _run(m, rundir))


def cycle_ratio():
    slaves, hb = run_247()
    first = slaves[0].log
    if len(first) < 2:
        raise RuntimeError("the first device was not polled twice (boots: %r)"
                           % [(b.ended, b.output[-3:]) for b in hb.boots])
    measured = (first[1][0] - first[0][0]) / 1e6
    answered = sum(1 for s in slaves if s.stats["answers"])
    return [{"figure": "modbus_cycle_ratio", "value": round(measured / cycle_minimum_s(), 4),
             "unit": "ratio", "goal": 1.10, "cycle_s": round(measured, 3),
             "minimum_s": round(cycle_minimum_s(), 3), "devices_answered": answered}]


def heap_peak():
    slaves, hb = run_247()
    return [{"figure": "heap_peak_kb_modbus_247", "value": round((hb.heap_peak - hb.heap_base) / 1024, 1),
             "unit": "KiB", "total_kb": round(hb.heap_peak / 1024, 1),
             "note": "firmware's live heap (modem capability included, after a collection at every "
                     "wait) in the unix port over two cycles of 247 Modbus devices; total_kb adds "
                     "the host board's own modules"}]


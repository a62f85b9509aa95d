# Host board script: the app with only the Modbus poller capability, on the configuration in
# config.json, for the virtual seconds in the first argument; prints "READING <json>" per
# reading set and "DEV <json>" per device and "STATUS <json>" at the end.  Further arguments
# "profile:<name>=<json>" put user profiles into /profiles first; "quiet" prints no readings
# but counts them; "meter:<ms>" runs a stand-in meter session (9600 7E1 '/?!' exchange) every
# <ms> on the same port, as the meter poller would; "reconfig:<ms>:<json>" applies, at <ms>, the
# configuration with its modbus[] replaced by <json>, as a pushed configuration would.
import asyncio
import json
import os

import board
import hostconf
from meterlink import app as appmod
from meterlink.proto import config as configmod

args = hostconf.conf.get("script_args") or []
duration_ms = int(float(args[0]) * 1000)
quiet = "quiet" in args
for a in args[1:]:
    if a.startswith("profile:"):
        name, text = a[8:].split("=", 1)
        try:
            os.mkdir("profiles")
        except OSError:
            pass
        with open("profiles/%s.json" % name, "w") as f:
            f.write(text)

counted = [0]


def show(r):
    counted[0] += 1
    if not quiet:
        source, t, ok, values = r
        print("READING", json.dumps({"source": source, "t": t, "clock_ok": ok,
                                     "values": {k: list(v) for k, v in values.items()}}))


meter = {"ok": 0, "failed": 0}


async def meter_task(hw, every_ms):
    from meterlink.port.uartport import PortTimeout, UartPort
    port = UartPort(hw.port("rs485"))
    while True:
        await asyncio.sleep_ms(every_ms)
        async with port:
            port.configure(9600, 7, 0, 1)
            await port.silence(5)
            port.discard()
            await port.send(b"/?!\r\n")
            try:
                got = await port.recv(500, 30)
                meter["ok" if got == b"/KFM5MT174\r\n" else "failed"] += 1
            except PortTimeout:
                meter["failed"] += 1


async def main():
    cfg, err = configmod.load("config.json")
    if err:
        print("CONFIG", err)
    app = appmod.App(board.build(), cfg)
    app.setup_capabilities(("meterlink.services.modbus",))
    app.readings.subscribe(show)
    task = asyncio.create_task(app.main())
    for a in args[1:]:
        if a.startswith("meter:"):
            asyncio.create_task(meter_task(app.hw, int(a[6:])))
    slept = 0
    for a in args[1:]:
        if a.startswith("reconfig:"):
            at_ms, entries = a[9:].split(":", 1)
            await asyncio.sleep_ms(int(at_ms) - slept)
            slept = int(at_ms)
            new = dict(app.cfg)
            new["modbus"] = json.loads(entries)
            print("RECONFIG", app.apply_config(new))
    await asyncio.sleep_ms(duration_ms - slept)
    task.cancel()
    status = {}
    for port, p in getattr(app, "modbus", {}).items():
        status[port] = {"stray": p.master.stray, "transactions": p.master.transactions,
                        "echoes": p.master.echoes}
        for i in range(p.n):         # one line each: 247 devices in one JSON text would not fit
            print("DEV", json.dumps({"port": port, "id": p.ids[i], "address": p.addr[i],
                                     "online": p.online(i), "counts": p.counters(i),
                                     "max_regs": p.cap[i] or None}))
    status["readings"] = counted[0]
    status["meter"] = meter
    import gc
    gc.collect()
    status["heap_alloc"] = gc.mem_alloc()
    status["heap_free"] = gc.mem_free()
    print("STATUS", json.dumps(status))


asyncio.run(main())

# Host board script: the app with only the Modbus poller capability, on the configuration in
# config.json, for the virtual seconds in the first argument; prints "READING <json>" per
# reading set and "STATUS <json>" (per-device state) at the end.  Further arguments
# "profile:<name>=<json>" put user profiles into /profiles first; "quiet" prints no readings
# but counts them.
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


async def main():
    cfg, err = configmod.load("config.json")
    if err:
        print("CONFIG", err)
    app = appmod.App(board.build(), cfg)
    app.setup_capabilities(("meterlink.services.modbus",))
    app.readings.subscribe(show)
    task = asyncio.create_task(app.main())
    await asyncio.sleep_ms(duration_ms)
    task.cancel()
    status = {}
    for port, p in getattr(app, "modbus", {}).items():
        status[port] = {"devices": p.status(), "stray": p.master.stray,
                        "transactions": p.master.transactions}
    status["readings"] = counted[0]
    import gc
    gc.collect()
    status["heap_alloc"] = gc.mem_alloc()
    status["heap_free"] = gc.mem_free()
    print("STATUS", json.dumps(status))


asyncio.run(main())

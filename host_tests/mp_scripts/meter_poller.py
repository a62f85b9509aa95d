# Host board script: the app with only the meter poller, for `seconds` of (virtual) time.
# Prints "@@READING <json>" for every reading set and "@@STATUS <json>" at the end.
import asyncio
import json
import sys

import board
import hostconf
from meterlink import app as appmod
from meterlink.proto import config as configmod

args = hostconf.conf.get("script_args") or []
seconds = int(args[0]) if args else 60


def emit(tag, obj):
    # streamed: one big string would need a large free block on a fragmented heap
    sys.stdout.write(tag + " ")
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")


def show(r):
    source, t, ok, values = r
    emit("@@READING", {"source": source, "t": t, "clock_ok": ok, "values": values})


async def main():
    cfg, err = configmod.load("config.json")
    assert err is None, err
    app = appmod.App(board.build(), cfg)
    app.setup_capabilities(["meterlink.services.meters"])
    app.readings.subscribe(show)
    task = asyncio.create_task(app.main())
    await asyncio.sleep(seconds)
    task.cancel()
    emit("@@STATUS", app.meters.status())
    emit("@@LEDS", app.leds.state)
    import gc
    gc.collect()
    print("@@HEAP", gc.mem_alloc())


asyncio.run(main())

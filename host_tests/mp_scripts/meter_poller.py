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
extra = json.loads(args[1]) if len(args) > 1 else {}
interloped = [0]


async def interloper(hw, every_ms):
    # another master on the same RS-485 UART (as the Modbus poller is), with its own port
    # object and other line settings, taking the line between meter sessions
    from meterlink.port.uartport import UartPort
    port = UartPort(hw.port("rs485"))
    while True:
        async with port:
            port.configure(19200, 8, None, 1)
            await port.send(b"\xf7\x03\x00\x00\x00\x01")
            await asyncio.sleep_ms(5)
        interloped[0] += 1
        await asyncio.sleep_ms(every_ms)


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
    if extra.get("interloper_ms"):
        asyncio.create_task(interloper(app.hw, extra["interloper_ms"]))
    await asyncio.sleep(seconds)
    task.cancel()
    emit("@@STATUS", app.meters.status())
    emit("@@LEDS", app.leds.state)
    emit("@@INTERLOPED", interloped[0])
    import gc
    gc.collect()
    print("@@HEAP", gc.mem_alloc())


asyncio.run(main())

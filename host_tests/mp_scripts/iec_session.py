# Host board script: meter sessions with MeterSession on one port.  script_args[0] is JSON:
# {"port": name, "line": {...}, "meters": [...], "rounds": n, "program": [codes]}.
# Prints one "@@R <json>" line per session (values or error, time taken).
import asyncio
import json
import time

import board
import hostconf
from meterlink.drivers.iecmeter import MeterError, resolve
from meterlink.drivers.iecprog import ProgSession
from meterlink.port.uartport import UartPort
from meterlink.services.leds import Leds

spec = json.loads(hostconf.conf["script_args"][0])


async def main():
    hw = board.build()
    leds = Leds(hw)
    port = UartPort(hw.port(spec["port"]), leds)
    session = ProgSession(port, spec.get("line", {}), leds)
    for rnd in range(spec.get("rounds", 1)):
        for m in spec["meters"]:
            meter = resolve(m, spec.get("line", {}))
            t0 = time.ticks_ms()
            out = {"id": meter["id"], "round": rnd}
            try:
                if spec.get("program"):
                    out["values"] = await session.read_registers(meter, spec["program"], meter.get("password"))
                else:
                    out["values"] = await session.readout(meter)
                out["ident"] = session.ident.text
            except MeterError as e:
                out["error"] = e.kind
                out["msg"] = str(e)
            out["ms"] = time.ticks_diff(time.ticks_ms(), t0)
            out["leds"] = leds.state
            print("@@R " + json.dumps(out))


asyncio.run(main())

# Host board script: Modbus transactions with RtuMaster on the RS-485 port, one per operation
# in the first script argument (JSON list); prints "R <json>" per operation.
#   {"op": "read", "unit", "fc", "addr", "count", "line": "9600 8N1", "timeout", "retries", "gap"}
#   {"op": "write", "unit", "addr", "values", "line"}
#   {"op": "raw", "line": "9600 7E1", "send": "text", "first_ms", "gap_ms"}  (another protocol)
#   {"op": "sleep", "ms"}
# With "late-de" as second argument the port releases DE 6 ms after the last stop bit.
import asyncio
import json
import time

import board
import hostconf
from meterlink.drivers.modbus.errors import ExceptionResponse, ModbusError
from meterlink.drivers.modbus.rtu import RtuMaster
from meterlink.port.uartport import PortTimeout, UartPort
from meterlink.proto.mbline import PARITIES
from meterlink.services.leds import Leds

args = hostconf.conf.get("script_args") or []
ops = json.loads(args[0])
late_de = "late-de" in args


def line_of(text):
    baud, f = text.split()
    return (int(baud), int(f[0]), PARITIES[f[1]], int(f[2]))


class LateDePort(UartPort):
    async def send(self, data):
        self.de.value(1)
        self.uart.write(data)
        self.tx_bytes += len(data)
        self.uart.flush()
        await asyncio.sleep_ms(6)
        self.de.value(0)


async def main():
    hw = board.build()
    leds = Leds(hw)
    port = (LateDePort if late_de else UartPort)(hw.port("rs485"), leds)
    m = RtuMaster(port, leds)
    for op in ops:
        t0 = time.ticks_ms()
        r = {"op": op["op"]}
        try:
            if op["op"] == "read":
                data = await m.read(op["unit"], op.get("fc", 3), op["addr"], op["count"],
                                    line_of(op.get("line", "9600 8N1")), op.get("timeout", 1000),
                                    op.get("retries", 1), op.get("gap", 0))
                r["data"] = "".join("%02x" % b for b in data)
            elif op["op"] == "write":
                await m.write(op["unit"], op["addr"], op["values"], line_of(op.get("line", "9600 8N1")))
                r["ok"] = True
            elif op["op"] == "raw":
                async with port:
                    port.configure(*line_of(op["line"]))
                    await port.silence(op.get("quiet_ms", 5))
                    port.discard()
                    await port.send(op["send"].encode())
                    got = await port.recv(op.get("first_ms", 500), op.get("gap_ms", 20))
                    r["data"] = got.decode()
            elif op["op"] == "sleep":
                await asyncio.sleep_ms(op["ms"])
        except ExceptionResponse as e:
            r.update(error=e.kind, code=e.code, name=e.name)
        except ModbusError as e:
            r.update(error=e.kind, msg=str(e))
        except PortTimeout as e:
            r.update(error="timeout", msg=str(e))
        r["ms"] = time.ticks_diff(time.ticks_ms(), t0)
        r["t"] = time.ticks_ms()
        print("R", json.dumps(r))
    print("STATS", json.dumps({"stray": m.stray, "transactions": m.transactions, "echoes": m.echoes}))


asyncio.run(main())

# Host board script: one request/answer over the RS-485 port with UartPort, or with DE held
# too long when the first script argument is "late-de".
import asyncio
import time

import board
import hostconf
from meterlink.port.uartport import UartPort, PortTimeout

args = hostconf.conf.get("script_args") or []


async def main():
    hw = board.build()
    port = UartPort(hw.port("rs485"))
    async with port:
        port.configure(9600, 8, None, 1)
        t0 = time.ticks_ms()
        if args and args[0] == "late-de":
            port.de.value(1)
            port.uart.write(b"PING\n")
            port.uart.flush()
            await asyncio.sleep_ms(10)      # DE released 10 ms late: the answer collides
            port.de.value(0)
        else:
            await port.send(b"PING\n")
        try:
            got = await port.recv(first_ms=200, gap_ms=5)
            print("GOT", got, time.ticks_diff(time.ticks_ms(), t0))
        except PortTimeout as e:
            print("TIMEOUT", e, time.ticks_diff(time.ticks_ms(), t0))


asyncio.run(main())

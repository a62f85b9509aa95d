"""Serial-number discovery on RS-485 (TEDAS-2023 meters): `/@!` in rounds.

Each meter not yet confirmed answers `/@!` after a random 50-750 ms with `STX flag+serial
ETX BCC`; the terminal confirms every clean answer with `STX ACK flag+serial (s) ETX BCC`,
which keeps that meter silent for s seconds, and asks again until the line stays quiet.
Answers that collide are noise: another round follows.  On a device, stop the app first
(Ctrl-C) and run `iecdiscover.main()` at the REPL.
"""
import asyncio
import time

from meterlink.port.uartport import PortTimeout
from meterlink.proto import iec62056 as iec

WINDOW_MS = 900          # the latest answer starts 750 ms after the request
MUTE_S = 120


def confirmation(address, mute_s=MUTE_S):
    body = b"\x06" + address.encode() + b"(%d)\x03" % mute_s
    return b"\x02" + body + bytes([iec.bcc(body)])


def answers(buf):
    """(addresses, noise) in what a round heard: clean `STX address ETX BCC` frames, and
    whether anything else (a collision) was on the line."""
    found = []
    noise = False
    i = 0
    n = len(buf)
    while i < n:
        s = buf.find(b"\x02", i)
        if s < 0:
            noise = noise or i < n
            break
        if s > i:
            noise = True
        e = buf.find(b"\x03", s + 1)
        if e < 0 or e + 1 >= n:
            noise = True
            break
        body = bytes(buf[s + 1:e])
        if iec.bcc(buf, s + 1, e + 1) == buf[e + 1] & 0x7F and 4 <= len(body) <= 32 and _is_address(body):
            found.append(body.decode())
        else:
            noise = True
        i = e + 2
    return found, noise


def _is_address(b):
    for c in b:
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A):
            return False
    return True


async def _round(port, line, window_ms):
    port.configure(line.get("baudrate", 9600), 7, 0, 1)
    port.discard()
    await port.send(iec.DISCOVER)
    buf = bytearray()
    deadline = time.ticks_add(time.ticks_ms(), window_ms)
    while True:
        left = time.ticks_diff(deadline, time.ticks_ms())
        if left <= 0:
            break
        try:
            buf.extend(await port.recv(left, 50, until=lambda b: len(b)))
        except PortTimeout:
            break
    try:
        # an answer that began just before the window closed
        buf.extend(await port.recv(150, 50))
    except PortTimeout:
        pass
    return answers(buf)


async def discover(port, line=None, rounds=30, window_ms=WINDOW_MS, quiet_rounds=2, mute_s=MUTE_S,
                   on_found=None):
    """The addresses (flag + serial) that answered, in the order found."""
    line = line or {}
    found = []
    quiet = 0
    for _ in range(rounds):
        async with port:
            new, noise = await _round(port, line, window_ms)
            for a in new:
                await port.send(confirmation(a, mute_s))
                if a not in found:
                    found.append(a)
                    if on_found is not None:
                        on_found(a)
        if new or noise:
            quiet = 0
        else:
            quiet += 1
            if quiet >= quiet_rounds:
                break
    return found


def main(port_name="rs485", rounds=30, window_ms=WINDOW_MS):
    """For the REPL / `mpremote exec`: discover on a port of this board and print the result."""
    import board
    from meterlink.port.uartport import UartPort
    hw = board.build()
    port = UartPort(hw.port(port_name))
    found = asyncio.run(discover(port, rounds=rounds, window_ms=window_ms,
                                 on_found=lambda a: print("FOUND", a)))
    print("DISCOVERED %d" % len(found))
    return found

"""A serial port for protocol sessions: line settings per transaction, sends that drive the
RS-485 DE/RE pin, and receives that end on a frame predicate, an inter-byte gap or a deadline.

One task at a time owns a port (`async with port:`); ports that share a UART on the board
share its lock.  Nothing here blocks the event loop for longer than the last character of a
send: the wait for the transmitter is an asyncio sleep, then `flush()` for the remainder.
"""
import asyncio
import time

PARITY_NAMES = {None: "N", 0: "E", 1: "O"}

_locks = {}     # uart id -> asyncio.Lock
_lines = {}     # uart id -> the line settings that UART has now (several ports may share it)
_last = {}      # uart id -> [the UartPort that used it last, ticks_ms when it let go]

# When one protocol hands the line to another (a Modbus master after a meter, or the other way
# round) the line stays quiet this long first: a slave's driver may still be releasing the bus,
# and a Modbus device needs t3.5 (4 ms at 9600 Bd) to see the end of a frame.
HANDOVER_MS = 4


class PortTimeout(Exception):
    """No (complete) answer before the deadline."""


class UartPort:
    def __init__(self, hwport, leds=None):
        self.name = hwport.name
        self._hwp = hwport
        self.de = hwport.de
        self.leds = leds
        uid = hwport.spec["uart"]
        lock = _locks.get(uid)
        if lock is None:
            lock = _locks[uid] = asyncio.Lock()
        self.lock = lock
        self._uid = uid
        self.uart = None
        self._sr = None
        self._line = None
        self._char_us = 1042
        self.tx_bytes = 0
        self.rx_bytes = 0
        self._pending = b""

    async def __aenter__(self):
        await self.lock.acquire()
        last = _last.get(self._uid)
        if last is not None and last[0] is not self:
            wait = HANDOVER_MS - time.ticks_diff(time.ticks_ms(), last[1])
            if wait > 0:
                await asyncio.sleep_ms(wait)
        uart = self._hwp.attach()
        if uart is not self.uart:
            self.uart = uart
            self._sr = asyncio.StreamReader(uart)
            self._line = None
            _lines.pop(self._uid, None)     # settings unknown: the next configure() sets them
        return self

    async def __aexit__(self, *exc):
        _last[self._uid] = [self, time.ticks_ms()]
        self.lock.release()

    # -- line settings --

    def configure(self, baudrate, bits=8, parity=None, stop=1):
        """Set the line; a no-op when it is already so.  Call with the transmitter idle.

        The UART's current settings are kept per UART, not per port object: another port (or
        another UartPort on the same port) may have changed them since this one last did.
        """
        line = (baudrate, bits, parity, stop)
        if _lines.get(self._uid) != line:
            self.uart.init(baudrate=baudrate, bits=bits, parity=parity, stop=stop)
            _lines[self._uid] = line
        if line != self._line:
            self._line = line
            self._char_us = (1 + bits + (0 if parity is None else 1) + stop) * 1000000 // baudrate
        return self

    @property
    def char_us(self):
        """One character's time on the line, in microseconds."""
        return self._char_us

    def describe(self):
        if self._line is None:
            return "%s (not configured)" % self.name
        b, bits, p, s = self._line
        return "%s %d %d%s%d" % (self.name, b, bits, PARITY_NAMES.get(p, "?"), s)

    # -- sending --

    async def send(self, data):
        """Transmit `data` and return once its last stop bit has left the UART.

        On a half-duplex (RS-485) port DE is raised before the first byte and dropped right
        after the last, so the answer that follows can be heard.
        """
        uart = self.uart
        de = self.de
        if de is not None:
            de.value(1)
        uart.write(data)
        self.tx_bytes += len(data)
        tx_ms = len(data) * self._char_us // 1000
        if tx_ms > 3:
            await asyncio.sleep_ms(tx_ms - 2)
        uart.flush()
        if de is not None:
            de.value(0)

    # -- receiving --

    def discard(self):
        """Drop whatever is buffered (a late answer to an earlier request, line noise)."""
        n = len(self._pending)
        self._pending = b""
        while True:
            got = self.uart.read()
            if not got:
                return n
            n += len(got)

    async def _read_chunk(self, timeout_ms):
        if self._pending:
            chunk, self._pending = self._pending, b""
            return chunk
        if timeout_ms <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for_ms(self._sr.read(256), timeout_ms)

    async def recv(self, first_ms, gap_ms, until=None, limit=4096, on_first=None, hold_ms=0):
        """Receive one answer.

        first_ms: how long to wait for its first byte (PortTimeout if nothing comes);
        gap_ms: the answer has ended when the line stays silent this long;
        until(buf) -> end index or -1: the answer is complete at that index (the rest stays
        buffered for the next call); -2: an answer has begun and its rest is worth waiting
        for, up to hold_ms after the first -2, however long the line is silent meanwhile
        (devices and gateways that pause inside an answer);  limit: the most bytes to take.
        Returns the bytes; a gap or the limit ends an incomplete answer without an error,
        so the caller's parser decides what it is.
        """
        buf = bytearray()
        deadline = time.ticks_add(time.ticks_ms(), first_ms)
        hold = None
        while True:
            if buf:
                wait = gap_ms
                if hold is not None:
                    wait = max(wait, time.ticks_diff(hold, time.ticks_ms()))
            else:
                wait = time.ticks_diff(deadline, time.ticks_ms())
            try:
                chunk = await self._read_chunk(wait)
            except asyncio.TimeoutError:
                if not buf:
                    raise PortTimeout("%s: no answer within %d ms" % (self.name, first_ms))
                return bytes(buf)
            if not chunk:
                continue
            if not buf and on_first is not None:
                on_first()
            buf.extend(chunk)
            self.rx_bytes += len(chunk)
            if until is not None:
                end = until(buf)
                if end == -2:
                    if hold is None:
                        hold = time.ticks_add(time.ticks_ms(), hold_ms)
                elif end >= 0:
                    if end < len(buf):
                        self._push_back(buf[end:])
                    return bytes(buf[:end])
            if len(buf) >= limit:
                return bytes(buf)

    def _push_back(self, data):
        # bytes after the end of this answer belong to the next recv()
        self._pending = bytes(data) + self._pending

    async def silence(self, ms):
        """Keep the line quiet for `ms` (inter-frame time, idle gap between meters)."""
        if ms > 0:
            await asyncio.sleep_ms(ms)

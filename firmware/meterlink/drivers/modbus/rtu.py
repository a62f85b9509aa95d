"""The Modbus RTU master on a UartPort: one transaction at a time under the port's lock, with
its line settings, t3.5 of silence, the answer ended by its expected length, timeout, retries."""
# umodbus' own serial master is not used (docs/modbus.md): it blocks the CPU for the whole
# transaction, its response timeout is a fixed loop (~0.48 s at 9600 Bd), it has no retries,
# holds DE for an extra character after the last stop bit, and pulls in ~35 KB of modules.
import asyncio
import time

from meterlink.drivers.modbus import adu
from meterlink.drivers.modbus.errors import RETRY_CODES, ExceptionResponse, ModbusError
from meterlink.port.uartport import PortTimeout

RX_CHUNK = 120          # the ESP32 UART hands received bytes over in chunks of up to 120
MAX_ANSWER = 330        # the largest ADU is 256 bytes; the rest allows for an echo and stray bytes
BUSY_MS = 100           # pause before asking a busy device again


def t35_us(line):
    """Inter-frame silence for line settings (baud, bits, parity, stop): 3.5 characters,
    1750 us above 19200 Bd (Modbus over serial line v1.02, 2.5.1.1)."""
    baud, bits, parity, stop = line
    if baud > 19200:
        return 1750
    return 35 * (1 + bits + (0 if parity is None else 1) + stop) * 100000 // baud


class RtuMaster:
    def __init__(self, port, leds=None):
        self.port = port
        self.leds = leds
        self.stray = 0              # bytes thrown away before (or instead of) answers
        self.echoes = 0             # requests heard back (an adapter with local echo)
        self.transactions = 0
        self._mark = -1             # port byte count when our last frame ended
        self._quiet_since = 0       # ticks_us when it ended
        self._hit = None
        self._want = None

    async def read(self, unit, fc, addr, count, line, timeout_ms=1000, retries=1, gap_ms=0):
        """The data bytes of a read (2 per register; bits packed for FC 01/02).

        Raises ExceptionResponse at once (the device answered) unless it says busy (codes in
        RETRY_CODES: asked again after BUSY_MS while retries last), else the last attempt's
        ModbusError after 1 + retries attempts.  gap_ms: the least silence before the
        request, for devices that need more than t3.5.
        """
        req = adu.read_request(unit, fc, addr, count)
        n = adu.read_answer_len(fc, count)
        return await self._run(req, unit, fc, n, line, timeout_ms, retries, gap_ms)

    async def write(self, unit, addr, values, line, timeout_ms=1000, retries=1, gap_ms=0):
        """Write holding registers (FC 06 for one value, FC 16 for more); ModbusError if the
        device refuses or its answer does not echo the request."""
        fc, req = adu.write_request(unit, addr, values)
        data = await self._run(req, unit, fc, 8, line, timeout_ms, retries, gap_ms)
        if not adu.write_confirmed(fc, data, addr, values):
            raise ModbusError("error", "unit %d: write answer does not match the request" % unit)

    async def _run(self, req, unit, fc, n, line, timeout_ms, retries, gap_ms):
        err = None
        for k in range(retries + 1):
            try:
                data = await self._transact(req, unit, fc, n, line, timeout_ms, gap_ms)
                self._led("error", False)
                return data
            except ExceptionResponse as e:
                if e.code not in RETRY_CODES or k == retries:
                    self._led("error", True)
                    raise
                err = e
                await asyncio.sleep_ms(BUSY_MS)
            except ModbusError as e:
                err = e
        self._led("error", True)
        raise err

    def _led(self, which, on):
        if self.leds is not None:
            getattr(self.leds, which)(self.port.name, on)

    def _until(self, buf):
        unit, fc, n, req = self._want
        start, end, state = adu.find(buf, unit, fc, n, req)
        if state == adu.BEGUN:
            return -2       # an answer has begun: its rest may come after a pause
        if start >= 0:
            self._hit = (start, end, state)
        return end          # a whole answer with a bad CRC ends the wait too

    def _on_first(self):
        self._led("response", True)

    def _echo_req(self, req, fc):
        """The request as find() should skip it: a local echo is never the answer, except
        to FC 05/06, whose answer is the request itself: skipped once an echo was seen."""
        if fc == 5 or fc == 6:
            return req if self.echoes else None
        return req

    async def _transact(self, req, unit, fc, n, line, timeout_ms, gap_ms=0):
        port = self.port
        async with port:
            port.configure(*line)
            silence = max(t35_us(line), 1000 * gap_ms)
            if port.tx_bytes + port.rx_bytes != self._mark:
                # someone else used the line since our last frame: its silence starts now
                self._quiet_since = time.ticks_us()
            wait = silence - time.ticks_diff(time.ticks_us(), self._quiet_since)
            if wait > 0:
                await asyncio.sleep_ms((wait + 999) // 1000)
            self.stray += port.discard()
            self._want = (unit, fc, n, self._echo_req(req, fc))
            self._hit = None
            self.transactions += 1
            self._led("response", False)
            self._led("query", True)
            await port.send(req)
            # a broken answer ends when the line has been quiet for longer than a chunk takes
            end_ms = (RX_CHUNK * port.char_us + t35_us(line)) // 1000 + 2
            try:
                buf = await port.recv(timeout_ms, end_ms, until=self._until, limit=MAX_ANSWER,
                                      on_first=self._on_first, hold_ms=timeout_ms)
            except PortTimeout:
                raise ModbusError("timeout", "unit %d: no answer within %d ms" % (unit, timeout_ms))
            finally:
                self._led("query", False)
                self._quiet_since = time.ticks_us()
                self._mark = port.tx_bytes + port.rx_bytes
        hit = self._hit
        want = self._want[3]
        echo = 0
        if want is not None and adu.echo_len(buf, 0, want) == len(want):
            echo = len(want)
            self.echoes += 1
        if hit is None or hit[2] != adu.OK:
            if echo and len(buf) == echo:
                raise ModbusError("timeout", "unit %d: no answer within %d ms (only the echo)"
                                  % (unit, timeout_ms))
            self.stray += len(buf) - echo
            raise adu.failure(buf, unit, fc, n, want)
        start, end, _ = hit
        self.stray += start - echo
        if buf[start + 1] & 0x80:
            raise ExceptionResponse(unit, fc, buf[start + 2])
        return buf[start + (3 if fc < 5 else 2):end - 2]

"""An IEC 62056-21 mode C meter session on a UartPort: sign-on, option select, rate switch,
the readout read as it arrives (partial blocks too), programming-mode reads, sign-off.

Optical and RS-232 sign on at 300 Bd and switch to the rate the meter offers (capped by the
configuration); a failed switch is retried at a lower rate, which the meter then keeps.
RS-485 stays at its fixed rate, addresses every request and signs off with B0.
"""
import asyncio
import time

from meterlink.port.uartport import PortTimeout
from meterlink.proto import iec62056 as iec
from meterlink.proto import iecdata
from meterlink.proto.iecreadout import BlockReader, Collector

PARITY = {"N": None, "E": 0, "O": 1}
MAX_READOUT_BYTES = 32768
DRAIN_MAX_MS = 60000
# The ESP32 UART hands received bytes over when its RX FIFO holds this many or the line goes
# idle: at 300 Bd a long answer shows up in 4 s steps, so every receive timeout allows for it.
RX_FIFO_CHARS = 120
B0_PROBE_MS = 1600      # tr max (1500 ms) and a character: long enough for any answer to B0

# a meter entry's settings when neither it nor its port names them (timeouts: IEC 62056-21
# waits at most 1500 ms for an answer, 2200 ms before giving up; < 1500 ms between characters)
METER_DEFAULTS = {"readout": "short", "reaction_timeout_ms": 2200, "char_timeout_ms": 1500,
                  "retries": 1, "session_timeout_ms": 120000, "switch_delay_ms": 20,
                  "idle_gap_ms": 200}


def resolve(meter, line):
    """A meter's settings: its entry (and its `overrides`) over its port's and the defaults."""
    m = dict(METER_DEFAULTS)
    for k in METER_DEFAULTS:
        if k in line:
            m[k] = line[k]
    m.update(meter)
    m.update(meter.get("overrides") or {})
    return m


class MeterError(Exception):
    """A session that delivered no readout.  kind: timeout, garbage, ident, mode, nak, bcc,
    truncated, switch, too_long, refused (an error message instead of the data, a wrong
    password)."""

    def __init__(self, kind, msg, rate=None):
        super().__init__(msg)
        self.kind = kind
        self.rate = rate

    def __str__(self):
        return "%s: %s" % (self.kind, self.args[0])


RETRIED = ("garbage", "bcc", "truncated", "nak")
# how a meter that does not know the short readout answers its option select: NAK, an
# error message, silence
NO_SHORT = ("nak", "refused", "timeout")
NO_SHORT_MAX = 2
IDENT_LINES = 4         # lines read for the identification: echo and noise may come first
HEAD_MAX = 16           # bytes before the data message kept to tell a NAK behind an echo


def _all(buf):
    return len(buf)


class MeterSession:
    """Sessions with the meters of one port.  `meter` arguments are resolve()d config entries
    (docs/meters.md); line: the port's configuration section."""

    def __init__(self, port, line, leds=None):
        self.port = port
        self.line = line
        self.leds = leds
        self.bus = port.de is not None              # RS-485: addressed, B0, idle gap
        self.fixed = self.bus or line.get("fixed_rate", False)
        self.sign_on = line.get("baudrate", 9600 if self.fixed else 300)
        self.rate_cap = {}          # meter id -> highest rate that worked after a failed switch
        self.b0_wait = {}           # meter id -> ms its answer to B0 takes (0: it gives none)
        self.no_short = {}          # meter id -> refusals of the short readout (NO_SHORT_MAX: read in full)
        self.ident = None
        self.bad_lines = 0          # data lines of the last readout that did not parse

    # -- LEDs --

    def _led(self, which, on):
        if self.leds is not None:
            getattr(self.leds, which)(self.port.name, on)

    # -- one exchange --

    def _configure(self, baud):
        ln = self.line
        self.port.configure(baud, ln.get("bits", 7), PARITY.get(ln.get("parity", "E"), 0), ln.get("stop", 1))

    async def _send(self, data):
        await self.port.send(data)
        self._sent = data

    async def _recv(self, first_ms, char_ms, until, limit=iec.IDENT_MAX):
        """One answer; an echo of what we sent (some probes hear themselves) is skipped."""
        port = self.port
        got = await port.recv(first_ms, char_ms, until=until, limit=limit, on_first=self._on_first)
        if got == self._sent:
            got = await port.recv(first_ms, char_ms, until=until, limit=limit)
        return got

    @staticmethod
    def _latency_ms(baud):
        return RX_FIFO_CHARS * 10000 // baud

    def first_ms(self, m):
        """Wait for an answer's first byte: the reaction timeout plus the RX FIFO's delay."""
        return m["reaction_timeout_ms"] + self.port.char_us * RX_FIFO_CHARS // 1000

    def gap_ms(self, m):
        """Silence that ends an answer: the inter-character timeout plus the FIFO's delay."""
        return m["char_timeout_ms"] + self.port.char_us * RX_FIFO_CHARS // 1000

    def _on_first(self):
        self._led("query", False)
        self._led("response", True)

    async def _ident_line(self, m):
        """The identification line.  Skipped before it: the echo of the request (also behind
        noise) and lines of wake-up noise without a '/' (NUL, DEL, a lone CR LF)."""
        raw = b""
        for _ in range(IDENT_LINES):
            try:
                raw = await self.port.recv(self.first_ms(m), self.gap_ms(m), until=iec.line_end,
                                           limit=iec.IDENT_MAX, on_first=self._on_first)
            except PortTimeout:
                raise MeterError("timeout", "no identification within %d ms" % m["reaction_timeout_ms"])
            k = iec.ident_start(raw)
            if k >= 0 and raw[k:] != self._sent:
                return raw
            if k < 0 and (not raw.endswith(b"\n") or not iec.is_noise(raw)):
                return raw          # garbage: the caller says so
        return raw

    async def _sign_on(self, meter, mode, rate_cap):
        """Request, identification, option select, rate switch.  Returns the rate in use."""
        m = meter
        self._configure(self.sign_on)
        self.port.discard()
        self._sent = None
        self._led("query", True)
        await self._send(iec.request(m.get("address") or ""))
        raw = await self._ident_line(m)
        try:
            ident = iec.parse_ident(raw)
        except iec.IecError as e:
            raise MeterError("garbage" if iec.ident_start(raw) < 0 else "ident", str(e))
        if ident.mode != "C":
            raise MeterError("mode", "meter speaks mode %s (%s); only mode C is read" % (ident.mode, ident.text))
        self.ident = ident
        if self.fixed:
            rate = self.sign_on
        else:
            rate = min(ident.baud, rate_cap)
        z = iec.char_of(rate) if rate in iec.C_BAUDS else "0"
        await asyncio.sleep_ms(ident.min_reaction_ms)
        await self._send(iec.option_select(z, mode))
        if rate != self.sign_on:
            delay = min(m["switch_delay_ms"], max(0, ident.min_reaction_ms - 10))
            if delay:
                await asyncio.sleep_ms(delay)
            self._configure(rate)
            self.port.discard()       # the option select's echo
        return rate

    async def _read_message(self, meter, sink, deadline):
        """The data message into sink (a Collector), block by block."""
        m = meter
        port = self.port
        reader = BlockReader()
        first = self.first_ms(m)
        total = 0
        naks = 0
        head = b""          # the first bytes before any STX
        reader.mark()
        while True:
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise MeterError("too_long", "readout still going after the session time")
            try:
                chunk = await port.recv(first, self.gap_ms(m), until=_all, on_first=self._on_first)
            except PortTimeout:
                if reader.state == reader.WAIT and not reader.blocks:
                    if head.replace(self._sent or b"", b"").strip(b"\x00\x7f\r\n") == b"\x15":
                        raise MeterError("nak", "meter answered the option select with NAK")
                    if reader.junk:
                        # bytes, but no STX: a meter talking at another rate, line noise
                        raise MeterError("garbage", "no data message, %d bytes without STX" % reader.junk)
                    raise MeterError("timeout", "no data message")
                raise MeterError("truncated", "data message stopped after %d bytes" % total)
            if total == 0 and len(chunk) <= 2 and chunk.find(b"\x15") >= 0:
                # a lone NAK, not line noise that happens to hold one
                raise MeterError("nak", "meter answered the option select with NAK")
            if len(head) < HEAD_MAX and reader.state == reader.WAIT and not reader.blocks:
                head += chunk[:HEAD_MAX - len(head)]
            total += len(chunk)
            if total > MAX_READOUT_BYTES:
                raise MeterError("too_long", "readout longer than %d bytes" % MAX_READOUT_BYTES)
            first = self.gap_ms(m)
            try:
                end = reader.feed(chunk, sink.line)
            except iec.IecError as e:
                raise MeterError("garbage", str(e))
            if end < 0:
                continue
            if reader.last:
                if not reader.block_ok:
                    sink.drop()
                    raise MeterError("bcc", "BCC of the data message does not match")
                err = sink.error_message()
                if err is not None:
                    sink.drop()
                    raise MeterError("refused", "meter sent the error message (%s)" % err)
                sink.commit()
                self.bad_lines = sink.bad_lines + reader.long_lines
                return reader
            # a partial block: ACK for the next one, NAK to have it again
            await asyncio.sleep_ms(self.ident.min_reaction_ms)
            if reader.block_ok:
                sink.commit()
                reader.mark()
                naks = 0
                await self._send(b"\x06")
            else:
                sink.drop()
                reader.rewind()
                naks += 1
                if naks > 3:
                    raise MeterError("bcc", "partial block still wrong after 3 NAKs")
                await self._send(b"\x15")
            first = self.first_ms(m)

    async def _drain(self, quiet_ms):
        """Wait until the meter stops talking (it may be sending at a rate we do not hear)."""
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < DRAIN_MAX_MS:
            try:
                await self.port.recv(quiet_ms, quiet_ms, until=_all)
            except PortTimeout:
                return

    async def sign_off(self, meter, rate=None):
        """B0 (complete sign-off) at `rate` (default: the sign-on rate), then the idle gap
        before the next meter.

        The standard has no answer to B0, but some meters (MASS) send one, up to tr max
        later: a request to the next meter would collide with it.  So the first B0 to each
        meter listens for B0_PROBE_MS; a meter that answered is then waited for each time.
        """
        self._configure(rate or self.sign_on)
        await asyncio.sleep_ms(self.ident.min_reaction_ms if self.ident else 200)
        await self._send(iec.BREAK)
        mid = meter["id"]
        learned = self.b0_wait.get(mid)
        window = meter["idle_gap_ms"]
        if learned is None or learned > window:
            window = B0_PROBE_MS if learned is None else learned
        t0 = time.ticks_ms()
        try:
            got = await self.port.recv(window, self.gap_ms(meter), until=iec.message_end)
            if got == iec.BREAK:
                # our own B0, heard back on an echoing line: the meter's answer may follow
                left = window - time.ticks_diff(time.ticks_ms(), t0)
                await self.port.recv(max(left, 1), self.gap_ms(meter), until=_all)
            await self._drain(50)
            if learned is None:
                self.b0_wait[mid] = time.ticks_diff(time.ticks_ms(), t0) + 50
        except PortTimeout:
            if learned is None:
                self.b0_wait[mid] = 0

    # -- the readout --

    async def readout(self, meter, select=None):
        """Read one meter: {code: (value text, unit)} of the selected codes.  Takes the port
        for each attempt (other users of the line get their turn between meters)."""
        mid = meter["id"]
        retries = meter.get("retries", 1)
        cap = min(meter.get("max_baudrate", 19200), self.line.get("max_baudrate", 19200),
                  self.rate_cap.get(mid, 19200))
        if select is None:
            select = iecdata.Selector(meter.get("obis"))
        short = meter.get("readout", "short") == "short" and self.no_short.get(mid, 0) < NO_SHORT_MAX
        mode = iec.SHORT_READOUT if short else iec.READOUT
        may_fall_back = short
        fell_back = False
        switch_fails = 0
        while True:
            try:
                values = await self._attempt(meter, select, mode, cap, may_fall_back)
                if fell_back:
                    self.no_short[mid] = self.no_short.get(mid, 0) + strikes
                elif mode == iec.SHORT_READOUT and mid in self.no_short:
                    del self.no_short[mid]
                return values
            except MeterError as e:
                if e.kind in ("no_short", "short_quiet"):
                    # the short readout (mode 6) is a Turkish addition: other meters refuse
                    # it or keep quiet.  They give the full readout (mode 0): a meter that
                    # refused it (NAK, error message), or kept quiet twice in a row while the
                    # full readout worked, is read in full from then on
                    strikes = NO_SHORT_MAX if e.kind == "no_short" else 1
                    may_fall_back = False
                    fell_back = True
                    mode = iec.READOUT
                    continue
                if e.kind == "switch" and fell_back:
                    # silent in both modes: the rate, not the mode, was wrong
                    fell_back = False
                    mode = iec.SHORT_READOUT
                if e.kind == "switch":
                    # one rate lower, then the sign-on rate: a meter that ignores the
                    # switch costs two attempts, not one per rate
                    switch_fails += 1
                    cap = self._lower(e.rate) if switch_fails == 1 else self.sign_on
                    self.rate_cap[mid] = cap
                    continue
                if e.kind in RETRIED and retries > 0:
                    retries -= 1
                    continue
                raise

    @staticmethod
    def _lower(rate):
        lower = 300
        for r in iec.C_BAUDS:
            if r < rate:
                lower = r
        return lower

    async def _attempt(self, meter, select, mode, cap, may_fall_back=False):
        sink = Collector(select)
        deadline = time.ticks_add(time.ticks_ms(), meter.get("session_timeout_ms", 120000))
        port = self.port
        self.ident = None
        async with port:
            rate = self.sign_on
            try:
                rate = await self._sign_on(meter, mode, cap)
                await self._read_message(meter, sink, deadline)
                self._led("error", False)
                if self.bus:
                    await self.sign_off(meter)
                return sink.finish()
            except MeterError as e:
                self._led("error", True)
                switched = rate != self.sign_on
                if may_fall_back and self.ident is not None and e.kind in NO_SHORT:
                    e = MeterError("short_quiet" if e.kind == "timeout" else "no_short",
                                   "no short readout (%s)" % e)
                elif switched and e.kind in ("garbage", "timeout", "truncated"):
                    await self._drain(meter["char_timeout_ms"] + self._latency_ms(self.sign_on))
                    e = MeterError("switch", "no readable answer at %d Bd (%s)" % (rate, e), rate)
                if self.bus or switched:
                    await self.sign_off(meter)
                raise e
            finally:
                self._led("query", False)
                self._led("response", False)

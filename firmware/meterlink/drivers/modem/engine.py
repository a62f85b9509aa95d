"""The AT engine: one reader task owns the modem UART; commands run one at a time, and a
line that is not the pending command's goes to the URC table, never into its result."""
# A line belongs to the pending command only if it is its echo, its final result, an
# information line with the prefix the command asked for (and passing its `accept` test), or
# the URC the command waits for after its OK (HTTPACTION, NETOPEN, CNTP...).
import asyncio
import gc
import time

from meterlink.drivers.modem.errors import AtError, AtTimeout
from meterlink.proto import at as atp
from meterlink.services import log

RECENT_LINES = 8
LATE_MS = 300            # after a timeout: let a late answer arrive (and be dropped) first
CHUNK = 256
CHAR_US = 87             # one character at 115200 8N1
KEEPALIVE_MS = 20000     # a long wait for a URC checks this often that the modem still answers
PONG_MS = 2000


class Result:
    __slots__ = ("final", "ok", "lines", "data", "urc", "aborted")

    def __init__(self):
        self.final = None     # the final result line
        self.ok = False
        self.lines = []       # information lines with the expected prefix
        self.data = []        # binary payloads (after +HTTPREAD headers)
        self.urc = None       # the deferred URC this command waited for
        self.aborted = None   # why the wait ended early (a line or a reason)

    def line(self):
        return self.lines[0] if self.lines else None

    def payload(self, sink=None):
        """The binary payloads: in `sink` if they went there (trimmed if fewer came)."""
        if sink is not None:
            n = sum(len(d) for d in self.data)
            return sink if n == len(sink) else sink[:n]
        if len(self.data) == 1:
            return self.data[0]
        return b"".join(self.data)

    def __repr__(self):
        return "Result(%r, lines=%r, urc=%r, aborted=%r)" % (self.final, self.lines, self.urc, self.aborted)


class _Pending:
    __slots__ = ("command", "expect", "accept", "urc", "urc_accept", "aborts", "finals", "result",
                 "ev", "prompted", "completed", "pongs")

    def __init__(self, command, expect, accept, urc, urc_accept, aborts, finals):
        self.command = command
        self.expect = expect
        self.accept = accept
        self.urc = urc
        self.urc_accept = urc_accept
        self.aborts = aborts
        self.finals = finals
        self.result = Result()
        self.ev = asyncio.Event()
        self.prompted = False
        self.completed = False
        self.pongs = 0           # answers to keep-alive ATs sent while waiting for the URC

    def complete(self):
        self.completed = True
        self.ev.set()


class AtEngine:
    def __init__(self, uart, tag="modem"):
        self._uart = uart
        self._stream = asyncio.StreamReader(uart)
        self.tag = tag
        self.tok = atp.Tokenizer()
        self.lock = asyncio.Lock()
        self._urcs = []
        self._pending = None
        self._dirty = False
        self.recent = []          # lines nobody claimed (newest last), for the REPL
        self.stats = {"commands": 0, "timeouts": 0, "errors": 0, "urcs": 0, "unknown": 0,
                      "rx": 0, "tx": 0}
        self.last_rx_ms = None
        self.trace = False        # log every line (set from the REPL when debugging)

    def on(self, prefix, handler):
        """Call handler(line) for every unsolicited line starting with prefix."""
        self._urcs.append((prefix, handler))

    # -- the reader task --

    async def reader(self, alive=None, idle_ms=5000):
        while True:
            try:
                chunk = await asyncio.wait_for_ms(self._stream.read(CHUNK), idle_ms)
            except asyncio.TimeoutError:
                chunk = None
            if alive is not None:
                alive()
            if chunk:
                self.stats["rx"] += len(chunk)
                self.last_rx_ms = time.ticks_ms()
                try:
                    self.tok.feed(chunk, self._token)
                except MemoryError:
                    # no room for a payload: drop it, keep the line (the request fails cleanly)
                    self.tok.reset()
                    self.abort("memory")
                    gc.collect()
                    log.error(self.tag, "out of memory reading the modem's answer")

    def _token(self, kind, payload):
        p = self._pending
        if kind == atp.DATA:
            if p is not None:
                p.result.data.append(payload)
            else:
                self._note("<%d bytes nobody asked for>" % len(payload))
            return
        if kind == atp.PROMPT:
            if p is not None:
                p.prompted = True
                p.ev.set()
            return
        line = atp.text(payload)
        if self.trace:
            log.debug(self.tag, "<< " + line)
        if p is not None and self._take(p, line):
            return
        if p is None and line.startswith("AT"):
            return        # the echo of a command that timed out
        self._dispatch(line)

    def _take(self, p, line):
        """Whether the pending command claims this line."""
        r = p.result
        if line == p.command or line == "AT":
            return True                       # echo (on again after a modem reboot)
        if p.urc is not None and r.urc is None and line.startswith(p.urc) and \
                (p.urc_accept is None or p.urc_accept(line)):
            r.urc = line
            if r.final is not None:
                p.complete()
            return True
        if r.final is None:
            kind = atp.final_kind(line)
            if kind is None and p.finals is not None:
                for f in p.finals:
                    if line.startswith(f):
                        kind = "ok"
                        break
            if kind is not None:
                r.final = line
                r.ok = kind == "ok"
                if not r.ok or p.urc is None or r.urc is not None:
                    p.complete()
                else:
                    p.ev.set()                # OK: the wait for the deferred URC starts now
                return True
        elif line == "OK":
            p.pongs += 1                      # a keep-alive answered
            p.ev.set()
            return True
        if p.expect is not None and line.startswith(p.expect) and (p.accept is None or p.accept(line)) \
                and (p.expect or not self._known(line)):
            r.lines.append(line)       # a bare answer (expect "") is never a known URC
            return True
        if p.aborts is not None:
            for a in p.aborts:
                if line.startswith(a):
                    r.aborted = line
                    p.complete()
                    break                     # and the URC table sees it too
        return False

    def _known(self, line):
        for prefix, _fn in self._urcs:
            if line.startswith(prefix):
                return True
        return False

    def _dispatch(self, line):
        for prefix, fn in self._urcs:
            if line.startswith(prefix):
                self.stats["urcs"] += 1
                try:
                    fn(line)
                except Exception as e:   # noqa: BLE001  a handler bug must not kill the reader
                    log.error(self.tag, "URC handler for %r failed: %r" % (line, e))
                return
        if atp.final_kind(line) is None:
            self._note(line)

    def _note(self, line):
        self.stats["unknown"] += 1
        self.recent.append(line)
        if len(self.recent) > RECENT_LINES:
            self.recent.pop(0)

    def abort(self, reason):
        """End the pending command's wait now (the modem rebooted or lost power)."""
        p = self._pending
        if p is not None and not p.completed:
            p.result.aborted = reason
            p.complete()

    def reset_input(self):
        self.tok.reset()

    # -- commands --

    async def cmd(self, command, timeout_ms=2000, expect=None, accept=None, urc=None, urc_ms=0,
                  data=None, aborts=None, finals=None, check=True, sink=None, urc_accept=None):
        """Send `command` and wait for its final result (and then its URC, if `urc`).

        expect: prefix of the information lines that belong to it; accept(line): a further
        test (a query answer vs. the URC form of the same prefix); urc_accept(line): the same
        for the deferred URC (whose prefix may start other lines too); data: bytes to write after
        the '> ' / DOWNLOAD prompt; aborts: URC prefixes that end the wait early; finals:
        extra final lines that mean success; sink: a bytearray for the binary payloads.
        Raises AtTimeout, or AtError if `check` and the
        modem answered an error.  An aborted wait returns the Result with `aborted` set.
        """
        async with self.lock:
            if self._dirty:
                await asyncio.sleep_ms(LATE_MS)
                self._dirty = False
            p = _Pending(command, expect, accept, urc, urc_accept, aborts, finals)
            self._pending = p
            self.tok.prompts = data is not None
            self.tok.set_sink(sink)
            self.stats["commands"] += 1
            if self.trace:
                log.debug(self.tag, ">> " + command)
            try:
                until = time.ticks_add(time.ticks_ms(), timeout_ms)
                await self._write(command.encode() + b"\r")
                if data is not None:
                    await self._wait(p, until, lambda p: p.prompted or p.completed)
                    if not p.completed:
                        await self._write(data)
                        until = time.ticks_add(time.ticks_ms(), timeout_ms)
                await self._wait(p, until, lambda p: p.completed or p.result.final is not None)
                if not p.completed:
                    await self._wait_urc(p, urc_ms)     # OK came; now the deferred URC
            except AtTimeout:
                self.stats["timeouts"] += 1
                self._dirty = True
                raise AtTimeout("%s: no answer" % command)
            finally:
                self._pending = None
                self.tok.prompts = False
                self.tok.set_sink(None)
            r = p.result
            if p.prompted and not r.ok:
                # the modem gave up on the data (its DOWNLOAD window closed): what we still
                # wrote reaches it as command lines, whose ERRORs must not answer the next one
                self._dirty = True
            if r.aborted is None and not r.ok:
                self.stats["errors"] += 1
                if check:
                    raise AtError(command, r)
            return r

    async def _wait(self, p, until, cond, fail=True):
        while not cond(p):
            left = time.ticks_diff(until, time.ticks_ms())
            if left <= 0:
                if fail:
                    raise AtTimeout()
                return False
            p.ev.clear()
            try:
                await asyncio.wait_for_ms(p.ev.wait(), left)
            except asyncio.TimeoutError:
                pass
        return True

    async def _wait_urc(self, p, urc_ms):
        """Wait for the deferred URC; a modem that died meanwhile (brownout) shows up as one
        that no longer answers a plain AT, long before the URC's own deadline."""
        until = time.ticks_add(time.ticks_ms(), urc_ms)
        while True:
            left = time.ticks_diff(until, time.ticks_ms())
            if left <= 0:
                raise AtTimeout()
            slice_end = time.ticks_add(time.ticks_ms(), min(left, KEEPALIVE_MS))
            if await self._wait(p, slice_end, lambda p: p.completed, False):
                return
            if time.ticks_diff(until, time.ticks_ms()) <= 0:
                raise AtTimeout()
            pongs = p.pongs
            await self._write(b"AT\r")
            await self._wait(p, time.ticks_add(time.ticks_ms(), PONG_MS),
                             lambda p: p.completed or p.pongs != pongs)

    async def _write(self, data):
        n = len(data)
        if n <= CHUNK:
            self._uart.write(data if isinstance(data, bytes) else bytes(data))
            self.stats["tx"] += n
            return
        mv = memoryview(data)
        for i in range(0, n, CHUNK):
            chunk = bytes(mv[i:i + CHUNK])
            self._uart.write(chunk)
            self.stats["tx"] += len(chunk)
            # pace the writes at the line rate: the UART's transmit buffer is small
            await asyncio.sleep_ms(len(chunk) * CHAR_US // 1000)

    async def probe(self, timeout_ms=500):
        """Whether the modem answers a plain AT."""
        try:
            r = await self.cmd("AT", timeout_ms=timeout_ms, check=False)
        except AtTimeout:
            return False
        return r.ok

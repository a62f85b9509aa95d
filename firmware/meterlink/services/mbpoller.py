"""The Modbus poller: reads the devices on one port at their own periods, one transaction at a
time, and puts their readings as "mb:<id>"."""
# A device that fails OFFLINE_AFTER polls in a row is offline: it is then tried with one
# request and no retries, at a period that doubles up to BACKOFF_MAX_S, so it never holds up
# the rest.  Per-device state lives in flat arrays (247 devices must fit an ESP32's heap).
import asyncio
import gc
import time
from array import array

from meterlink.drivers.modbus.errors import GATEWAY_CODES, RETRY_CODES, ExceptionResponse, ModbusError
from meterlink.drivers.modbus.rtu import RtuMaster
from meterlink.port.uartport import UartPort
from meterlink.proto import mbline, mbprofile
from meterlink.services import log, mbprofiles

TAG = "modbus"
OFFLINE_AFTER = 3
BACKOFF_MAX_S = 600
ALIVE_MS = 10000            # the task reports to the watchdog at least this often
REBASE_MS = 1 << 28         # due times are ms after a base that moves on every ~3 days

BUSY_MS = 100               # pause before asking a busy device again

# per-device counters, in this order in Poller.counts; "invalid": values the device marked as
# not available (NaN, a profile's na values), "split": reads refused as too long and re-read
# in parts
COUNTERS = ("polls", "failed", "timeout", "crc", "frame", "exception", "invalid", "split")
_KIND = {"timeout": 2, "crc": 3, "frame": 4, "address": 4, "length": 4, "exception": 5}
_TOO_LONG = (2, 3)          # exception codes a device may give for a read longer than it takes


def _gone(err):
    """True for an error that says the device is not answering (not just refusing a read)."""
    return err is not None and (not isinstance(err, ExceptionResponse) or err.code in GATEWAY_CODES)


def usable(entries):
    """The entries a poller can work with; the others are logged and left out."""
    out = []
    seen = bytearray(248)
    for e in entries:
        try:
            addr = e["address"]
            mbline.parse_line(mbline.entry(e, "line"))
            if not (isinstance(e["id"], str) and isinstance(e["profile"], str) and 1 <= addr <= 247):
                raise ValueError("id, profile or address")
            if seen[addr]:
                raise ValueError("address %d used twice" % addr)
            seen[addr] = 1
            out.append(e)
        except (KeyError, TypeError, ValueError) as ex:
            log.error(TAG, "modbus device %r left out: %s" % (e, ex))
    return out


class Poller:
    """The devices on one port and the task that reads them."""

    def __init__(self, app, port_name, entries):
        self.app = app
        self.name = "modbus:" + port_name
        self.port = UartPort(app.hw.port(port_name), app.leds)
        self.master = RtuMaster(self.port, app.leds)
        self._base = time.ticks_ms()
        self.pending = None          # a new device list, taken between two polls
        self.n = 0
        self.ids = []
        self._load(entries)

    def update(self, entries):
        """A new configuration's devices for this port (live): taken before the next poll."""
        self.pending = entries

    def _load(self, entries):
        """Set up the per-device arrays; a device that keeps its id and address keeps its
        schedule, its counters and what was learnt about it."""
        entries = usable(entries)
        old = {}
        for i in range(self.n):
            old[self.ids[i]] = i
        n = len(entries)
        k = len(COUNTERS)
        ids = [e["id"] for e in entries]
        addr = bytearray(e["address"] for e in entries)
        due = array("i", (0 for _ in range(n)))        # ms after self._base
        fails = bytearray(n)                            # failed polls in a row
        counts = array("I", (0 for _ in range(n * k)))
        cap = bytearray(n)           # registers per read the device takes, learnt (0: any)
        last_exception = bytearray(n)
        for i in range(n):
            j = old.get(ids[i])
            if j is not None and self.addr[j] == addr[i]:
                due[i] = self.due[j]
                fails[i] = self.fails[j]
                cap[i] = self.cap[j]
                last_exception[i] = self.last_exception[j]
                for c in range(k):
                    counts[i * k + c] = self.counts[j * k + c]
        old = None
        self.n = n
        self.ids = ids
        # the reading sources, made once: made per poll they would be long-lived strings
        # (the reading sink keeps them) scattered over the heap between each poll's garbage
        self.sources = ["mb:" + d for d in ids]
        self.addr = addr
        self.due = due
        self.fails = fails
        self.counts = counts
        self.cap = cap
        self.last_exception = last_exception
        self.lines = []
        self.line = bytearray(n)
        self.prof_names = []
        self.prof = bytearray(n)
        self.period = array("i", (0 for _ in range(n)))     # ms
        self.timeout = array("H", (0 for _ in range(n)))
        self.retries = bytearray(n)
        self.gap = array("H", (0 for _ in range(n)))        # ms of silence before a request
        self.profiles = {}
        default_period = self.app.cfg.get("poll_period_s", 60)
        for i, e in enumerate(entries):
            line = mbline.parse_line(mbline.entry(e, "line"))
            if line not in self.lines:
                self.lines.append(line)
            self.line[i] = self.lines.index(line)
            p = e["profile"]
            if p not in self.prof_names:
                self.prof_names.append(p)
            self.prof[i] = self.prof_names.index(p)
            self.period[i] = 1000 * (e.get("period_s") or default_period)
            self.timeout[i] = mbline.entry(e, "timeout_ms")
            self.retries[i] = mbline.entry(e, "retries")
            self.gap[i] = mbline.entry(e, "gap_ms")

    # -- state for status reports and the REPL --

    def online(self, i):
        return self.fails[i] < OFFLINE_AFTER

    def counters(self, i):
        k = len(COUNTERS)
        return dict(zip(COUNTERS, self.counts[i * k:(i + 1) * k]))

    def status(self):
        return [{"id": self.ids[i], "address": self.addr[i], "online": self.online(i),
                 "counts": self.counters(i), "max_regs": self.cap[i] or None} for i in range(self.n)]

    # -- the task --

    async def run(self):
        polled = 0
        while True:
            if self.pending is not None:
                entries, self.pending = self.pending, None
                self._load(entries)
                gc.collect()
                log.info(TAG, "%d devices on %s (new configuration)" % (self.n, self.name[7:]))
                polled = 0
            if not self.n:
                await asyncio.sleep_ms(ALIVE_MS)        # no devices here (any more)
                self.app.alive(self.name)
                continue
            i, wait = self._next()
            if wait > 0:
                await asyncio.sleep_ms(min(wait, ALIVE_MS))
            else:
                await self._poll(i)
                polled += 1
                if polled >= self.n:
                    polled = 0
                    gc.collect()
            self.app.alive(self.name)

    def _now(self):
        now = time.ticks_diff(time.ticks_ms(), self._base)
        if now >= REBASE_MS:
            # ticks_diff is only good for half the ticks period (2**29 ms on an ESP32)
            self._base = time.ticks_add(self._base, now)
            for i in range(self.n):
                self.due[i] -= now
            now = 0
        return now

    def _next(self):
        now = self._now()
        due = self.due
        best = 0
        for i in range(1, self.n):
            if due[i] < due[best]:
                best = i
        return best, due[best] - now

    def _profile(self, i):
        name = self.prof_names[self.prof[i]]
        p = self.profiles.get(name)
        if p is None:
            try:
                p = mbprofiles.load(name)
            except (OSError, mbprofile.ProfileError) as e:
                log.error(TAG, "%s: %s" % (self.ids[i], e))
                p = False
            self.profiles[name] = p
        return p

    def _count(self, i, k):
        self.counts[i * len(COUNTERS) + k] += 1

    async def _poll(self, i):
        start = self._now()
        prof = self._profile(i)
        if not prof:
            self._schedule(i, start, BACKOFF_MAX_S * 1000)     # a broken profile: rarely nag
            return
        self._count(i, 0)
        t = self.app.clock.now()
        offline = not self.online(i)
        values = {}
        for block in prof.blocks:
            err = await self._read_fields(i, block, 0, len(block[3]), values, offline)
            self.app.alive(self.name)
            if _gone(err):
                break       # the device is not answering: leave its other blocks
        if values:
            for v in values.values():
                if v[0] is None:
                    self._count(i, 6)
            if offline:
                log.info(TAG, "%s (unit %d) answers again" % (self.ids[i], self.addr[i]))
            self.fails[i] = 0
            self.app.readings.put(self.sources[i], t, self.app.clock.valid(), values)
            self._schedule(i, start, self.period[i])
            return
        self._count(i, 1)
        if self.fails[i] < 255:
            self.fails[i] += 1
        if self.fails[i] == OFFLINE_AFTER:
            log.warn(TAG, "%s (unit %d) offline after %d failed polls" % (self.ids[i], self.addr[i], OFFLINE_AFTER))
        period = self.period[i]
        if not self.online(i):
            period = min(period << min(self.fails[i] - OFFLINE_AFTER + 1, 10), BACKOFF_MAX_S * 1000)
            period = max(period, self.period[i])
        self._schedule(i, start, period)

    async def _read_fields(self, i, block, lo, hi, values, offline):
        """Read fields lo..hi-1 of a block into values; None, or the error that kept some of
        them from being read.  A read the device refuses with exception 02/03 (many take
        fewer registers per read than Modbus allows, or lack one register in the middle) is
        read again in two halves, down to single fields; when all of it then reads, the
        largest part read is remembered as the device's limit (self.cap) for later polls."""
        fc = block[0]
        if lo == 0 and hi == len(block[3]):
            addr, count = block[1], block[2]
        else:
            addr, count = mbprofile.span(block, lo, hi)
        cap = self.cap[i]
        if hi - lo > 1 and fc > 2 and cap and count > cap:
            return await self._split(i, block, lo, hi, values, offline, False)
        r = await self._read(i, fc, addr, count, offline)
        if not isinstance(r, Exception):
            mbprofile.decode(block, r, values, lo, hi)
            return None
        if isinstance(r, ExceptionResponse) and r.code in _TOO_LONG and hi - lo > 1:
            self._count(i, 7)
            return await self._split(i, block, lo, hi, values, offline, True)
        if isinstance(r, ExceptionResponse) and self.last_exception[i] != r.code:
            log.warn(TAG, "%s: %s (%d registers from %d)" % (self.ids[i], r, count, addr))
        if isinstance(r, ExceptionResponse):
            self.last_exception[i] = r.code
        return r

    async def _split(self, i, block, lo, hi, values, offline, refused):
        mid = (lo + hi) // 2
        err = await self._read_fields(i, block, lo, mid, values, offline)
        if _gone(err):
            return err      # no longer answering
        err2 = await self._read_fields(i, block, mid, hi, values, offline)
        if err is None and err2 is None and refused and block[0] > 2:
            # every part read: the whole was refused for its length
            most = max(mbprofile.span(block, lo, mid)[1], mbprofile.span(block, mid, hi)[1])
            if self.cap[i] == 0 or most < self.cap[i]:
                self.cap[i] = most
                log.warn(TAG, "%s: reads of more than %d registers refused: reading in parts"
                         % (self.ids[i], most))
        return err2 if err is None else err

    async def _read(self, i, fc, addr, count, offline):
        """The data of one read with the device's retries; the error when it failed."""
        line = self.lines[self.line[i]]
        tries = 1 if offline else 1 + self.retries[i]
        err = None
        for k in range(tries):
            try:
                return await self.master.read(self.addr[i], fc, addr, count, line, self.timeout[i], 0,
                                              self.gap[i])
            except ExceptionResponse as e:
                self._count(i, _KIND["exception"])
                if e.code not in RETRY_CODES:
                    return e
                err = e
                if k + 1 < tries:
                    await asyncio.sleep_ms(BUSY_MS)      # busy: ask again a moment later
            except ModbusError as e:
                self._count(i, _KIND.get(e.kind, 4))
                err = e
        return err

    def _schedule(self, i, start, period_ms):
        """Next poll one period after the last due time, keeping the cadence; after falling
        behind by more than a period, one period from now."""
        nxt = self.due[i] + period_ms
        if nxt <= start:
            nxt = start + period_ms
        self.due[i] = nxt



"""The Modbus poller: reads the devices on one port at their own periods, one transaction at a
time, and puts their readings as "mb:<id>"."""
# A device that fails OFFLINE_AFTER polls in a row is offline: it is then tried with one
# request and no retries, at a period that doubles up to BACKOFF_MAX_S, so it never holds up
# the rest.  Per-device state lives in flat arrays (247 devices must fit an ESP32's heap).
import asyncio
import gc
import time
from array import array

from meterlink.drivers.modbus.errors import ExceptionResponse, ModbusError
from meterlink.drivers.modbus.rtu import RtuMaster
from meterlink.port.uartport import UartPort
from meterlink.proto import mbline, mbprofile
from meterlink.services import log, mbprofiles

TAG = "modbus"
OFFLINE_AFTER = 3
BACKOFF_MAX_S = 600
ALIVE_MS = 10000            # the task reports to the watchdog at least this often
REBASE_MS = 1 << 28         # due times are ms after a base that moves on every ~3 days

# per-device counters, in this order in Poller.counts
COUNTERS = ("polls", "failed", "timeout", "crc", "frame", "exception")
_KIND = {"timeout": 2, "crc": 3, "frame": 4, "address": 4, "exception": 5}


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
        entries = usable(entries)
        self.name = "modbus:" + port_name
        self.port = UartPort(app.hw.port(port_name), app.leds)
        self.master = RtuMaster(self.port, app.leds)
        n = len(entries)
        self.n = n
        self.ids = [e["id"] for e in entries]
        self.addr = bytearray(e["address"] for e in entries)
        self.lines = []
        self.line = bytearray(n)
        self.prof_names = []
        self.prof = bytearray(n)
        self.period = array("i", (0 for _ in range(n)))     # ms
        self.timeout = array("H", (0 for _ in range(n)))
        self.retries = bytearray(n)
        self.due = array("i", (0 for _ in range(n)))        # ms after self._base
        self._base = time.ticks_ms()
        self.fails = bytearray(n)                            # failed polls in a row
        self.counts = array("I", (0 for _ in range(n * len(COUNTERS))))
        self.last_exception = bytearray(n)
        self.profiles = {}
        default_period = app.cfg.get("poll_period_s", 60)
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

    # -- state for status reports and the REPL --

    def online(self, i):
        return self.fails[i] < OFFLINE_AFTER

    def counters(self, i):
        k = len(COUNTERS)
        return dict(zip(COUNTERS, self.counts[i * k:(i + 1) * k]))

    def status(self):
        return [{"id": self.ids[i], "address": self.addr[i], "online": self.online(i),
                 "counts": self.counters(i)} for i in range(self.n)]

    # -- the task --

    async def run(self):
        polled = 0
        while True:
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
            err = await self._read_block(i, block, values, offline)
            self.app.alive(self.name)
            if err is not None and not isinstance(err, ExceptionResponse):
                break       # the device is not answering: leave its other blocks
        if values:
            if offline:
                log.info(TAG, "%s (unit %d) answers again" % (self.ids[i], self.addr[i]))
            self.fails[i] = 0
            self.app.readings.put("mb:" + self.ids[i], t, self.app.clock.valid(), values)
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

    async def _read_block(self, i, block, values, offline):
        fc, addr, count = block[0], block[1], block[2]
        line = self.lines[self.line[i]]
        tries = 1 if offline else 1 + self.retries[i]
        err = None
        for _ in range(tries):
            try:
                data = await self.master.read(self.addr[i], fc, addr, count, line, self.timeout[i], 0)
            except ExceptionResponse as e:
                self._count(i, _KIND["exception"])
                if self.last_exception[i] != e.code:
                    log.warn(TAG, "%s: %s" % (self.ids[i], e))
                self.last_exception[i] = e.code
                return e
            except ModbusError as e:
                self._count(i, _KIND.get(e.kind, 4))
                err = e
                continue
            mbprofile.decode(block, data, values)
            return None
        return err

    def _schedule(self, i, start, period_ms):
        """Next poll one period after the last due time, keeping the cadence; after falling
        behind by more than a period, one period from now."""
        nxt = self.due[i] + period_ms
        if nxt <= start:
            nxt = start + period_ms
        self.due[i] = nxt



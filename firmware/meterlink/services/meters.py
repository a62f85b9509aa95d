"""The meter poller: reads the configured IEC 62056-21 meters, port by port, and puts their
readings into app.readings as ("meter:<id>", t, clock_ok, {code: (value, unit)}).

One task per port.  The port is taken per meter session, so Modbus polls on the same
RS-485 line get their turn between meters; a failing meter costs its bounded timeouts and
is counted, the others are read as usual.
"""
import asyncio
import gc
import time

from meterlink.drivers.iecmeter import MeterError, MeterSession, resolve
from meterlink.port.uartport import UartPort
from meterlink.proto import iecdata, meterconf
from meterlink.services import log

MAX_SILENCE_S = 600     # the longest a meter can take: retries, a failed rate switch, a drain


class MeterState:
    """One meter's settings and counters (for status, the REPL and uploads)."""

    def __init__(self, cfg, select, default_period_s):
        self.cfg = cfg
        self.id = cfg["id"]
        self.select = select
        self.period_ms = int((cfg.get("period_s") or default_period_s) * 1000)
        self.due = time.ticks_ms()
        self.reads = 0
        self.errors = 0
        self.consecutive = 0
        self.error_kinds = {}
        self.last_error = None
        self.last_read = None       # UTC seconds of the last good readout
        self.ident = None
        self.bad_lines = 0          # data lines of the last readout that did not parse

    def status(self):
        return {"reads": self.reads, "errors": self.errors, "consecutive": self.consecutive,
                "last_error": self.last_error, "last_read": self.last_read,
                "ident": self.ident, "kinds": dict(self.error_kinds), "bad_lines": self.bad_lines}


class PortPoller:
    def __init__(self, app, port_name, meters):
        self.app = app
        self.name = port_name
        self.task = "meters:" + port_name
        self.port = UartPort(app.hw.port(port_name), app.leds)
        self.session = None
        self.meters = []
        self.cycles = 0
        self.update(app.cfg, meters)

    def update(self, cfg, meters):
        """Take the meters and line settings of a configuration (at start, or a new one live):
        a meter that stays keeps its counters and next due time."""
        line = cfg.get("ports", {}).get(self.name, {})
        if self.session is None or line != self.line:
            self.line = line
            self.session = MeterSession(self.port, line, self.app.leds)
        default_period = cfg.get("poll_period_s", 60)
        old = {}
        for st in self.meters:
            old[st.id] = st
        selectors = {}      # meters with the same selection share one (32 copies cost heap)
        states = []
        for m in meters:
            key = tuple(m["obis"]) if m.get("obis") is not None else None
            if key not in selectors:
                selectors[key] = iecdata.Selector(m.get("obis"))
            st = MeterState(m, selectors[key], default_period)
            was = old.get(st.id)
            if was is not None:
                st.reads, st.errors, st.consecutive = was.reads, was.errors, was.consecutive
                st.error_kinds, st.last_error, st.last_read, st.ident = \
                    was.error_kinds, was.last_error, was.last_read, was.ident
                st.due = time.ticks_add(was.due, st.period_ms - was.period_ms)
            states.append(st)
        self.meters = states

    async def run(self):
        while True:
            if not self.meters:      # none on this port under the current configuration
                self.app.alive(self.task)
                await asyncio.sleep_ms(MAX_SILENCE_S * 500)
                continue
            read = failed = 0
            for st in self.meters:
                if time.ticks_diff(time.ticks_ms(), st.due) >= 0:
                    if await self.read(st):
                        read += 1
                    else:
                        failed += 1
                    self.app.alive(self.task)
            if read or failed:
                self.cycles += 1
                log.info("meters", "%s: %d read, %d failed" % (self.name, read, failed))
            gc.collect()
            wait = min(time.ticks_diff(st.due, time.ticks_ms()) for st in self.meters)
            self.app.alive(self.task)
            if wait > 0:
                await asyncio.sleep_ms(min(wait, MAX_SILENCE_S * 500))

    async def read(self, st):
        start = time.ticks_ms()
        st.due = time.ticks_add(start, st.period_ms)
        try:
            values = await self.session.readout(resolve(st.cfg, self.line), st.select)
        except MeterError as e:
            self._failed(st, e.kind, str(e))
            return False
        except Exception as e:   # noqa: BLE001  an I/O fault must not stop the other meters
            self._failed(st, "io", repr(e))
            return False
        clock = self.app.clock
        st.reads += 1
        st.consecutive = 0
        st.last_read = clock.now()
        st.ident = self.session.ident.text if self.session.ident else None
        st.bad_lines = self.session.bad_lines
        self.app.readings.put("meter:" + st.id, clock.now(), clock.valid(), values)
        return True

    def _failed(self, st, kind, msg):
        st.errors += 1
        st.consecutive += 1
        st.error_kinds[kind] = st.error_kinds.get(kind, 0) + 1
        st.last_error = msg
        if self.app.leds is not None:
            self.app.leds.error(self.name, True)
        # the flash log gets a meter's first failure and every tenfold repeat, not each cycle
        n = st.consecutive
        while n % 10 == 0:
            n //= 10
        (log.warn if n == 1 else log.info)("meters", "%s %s: %s (%d in a row)"
                                            % (self.name, st.id, msg, st.consecutive))

    def status(self):
        return {st.id: st.status() for st in self.meters}


class MeterPoller:
    """All ports' pollers; `app.meters.status()` shows every meter's counters."""

    def __init__(self, app):
        self.app = app
        self.ports = {}
        self.reconfigure(app.cfg)

    def reconfigure(self, cfg):
        """The meters of a configuration, at start or live: pollers of ports that keep meters
        take the new list, a port that gets its first meters gets its task."""
        meters, errors = meterconf.check(cfg.get("meters"))
        for e in errors:
            log.error("config", e)
        self.config_errors = errors
        for name in meterconf.PORTS:
            mine = [m for m in meters if m.get("port", "rs485") == name]
            p = self.ports.get(name)
            if p is not None:
                p.update(cfg, mine)
            elif mine:
                try:
                    p = self.ports[name] = PortPoller(self.app, name, mine)
                except ValueError as e:      # the board has no such port
                    log.error("meters", str(e))
                    continue
                self.app.add_task(p.task, p.run, MAX_SILENCE_S)
        return True

    def status(self):
        out = {}
        for p in self.ports.values():
            out.update(p.status())
        return out


def setup(app):
    app.meters = MeterPoller(app)
    app.on_reconfigure(("meters", "ports", "poll_period_s"), app.meters.reconfigure)

"""The uplink capability: reading sets go to the flash spool; every send period the pending
batches go to the collector through the modem (`app.modem.http_post`).  docs/uplink.md.
"""
import asyncio
import binascii
import gc
import json
import time

from meterlink.proto import envelope as ev
from meterlink.services import log
from meterlink.services.spool import Spool
from meterlink.services.upload import Uploader

SECRETS_FILE = "secrets.json"
TICK_MS = 10000           # the task wakes at least this often (watchdog, sealing by age)
NOT_READY_POLL_MS = 2000  # while a due upload waits for the modem to register
MAX_SILENCE_S = 600       # longer than one HTTP exchange through the modem, with its recovery
SOON_MS = 2000            # after a pushed configuration: the next cycle reports it and tries it
ENVELOPE_ROOM = 512       # device id, counters, status and tag around the batches


class Uplink(Uploader):
    """The task: sends when the period is due, backs off after failures, seals old batches."""

    def __init__(self, spool, cfg, device_id, key, transport=None, find_transport=None,
                 clock=None, leds=None, on_config=None, extra_status=None, buf=None):
        up = cfg.get("uplink", {})
        if buf is None:
            buf = request_buffer(int(up.get("max_body", 8192)))
        Uploader.__init__(self, spool, cfg, device_id, key, buf, transport, clock, leds,
                          on_config, extra_status)
        self.find_transport = find_transport
        self.max_body_cfg = int(up.get("max_body", 8192))
        self._periods(cfg)
        self.not_ready_poll_ms = NOT_READY_POLL_MS
        self._soon = False

    def _periods(self, cfg):
        self.period_ms = int(float(cfg.get("send_period_min", 15)) * 60000)
        self.retry_ms = int(cfg.get("uplink", {}).get("retry_s", 60) * 1000)

    def reconfigure(self, cfg):
        """A new configuration, live; False when it needs a restart (another request buffer)."""
        if int(cfg.get("uplink", {}).get("max_body", 8192)) != self.max_body_cfg:
            return False
        Uploader.reconfigure(self, cfg)
        self._periods(cfg)
        self._soon = True       # the next cycle reports the new version and tries the settings
        return True

    async def _network_time(self):
        c = self.clock
        if c is None or c.valid() or not hasattr(self.transport, "network_time"):
            return
        try:
            t = await self.transport.network_time()
        except Exception as e:   # noqa: BLE001  the collector's answer sets the clock too
            log.warn("uplink", "network time unavailable: %r" % e)
            return
        if t:
            c.set(t, "network")
            log.info("uplink", "clock set from the network")

    def _modem_not_ready(self):
        """The modem says it is not registered yet (after power-on): wait, it is no failure."""
        t = self.transport
        if t is None:
            return False
        try:
            return (t.status() or {}).get("registered") is False
        except Exception:   # noqa: BLE001  the upload attempt will tell
            return False

    async def run(self, alive=None):
        if alive is not None:
            self.alive = alive
        next_ms = time.ticks_ms()
        backoff = self.retry_ms
        while True:
            self.alive()
            if self._soon:
                self._soon = False
                backoff = self.retry_ms
                if time.ticks_diff(next_ms, time.ticks_ms()) > SOON_MS:
                    next_ms = time.ticks_add(time.ticks_ms(), SOON_MS)
            if self.spool.age_ms() >= self.spool.seal_max_ms:
                self.spool.seal()
            if self.transport is None and self.find_transport is not None:
                self.transport = self.find_transport()
            if time.ticks_diff(time.ticks_ms(), next_ms) >= 0 and not self._modem_not_ready():
                ok = False
                if self.transport is not None and self.key:
                    await self._network_time()
                    ok = await self.send_all()
                self.reconfigured = False
                if ok:
                    backoff = self.retry_ms
                    next_ms = time.ticks_add(time.ticks_ms(), self.period_ms)
                else:
                    next_ms = time.ticks_add(time.ticks_ms(), min(backoff, self.period_ms))
                    backoff = min(backoff * 2, self.period_ms)
            wait = time.ticks_diff(next_ms, time.ticks_ms())
            await asyncio.sleep_ms(self.not_ready_poll_ms if wait <= 0 else min(wait, TICK_MS))


def request_buffer(size, smallest=2048):
    """The one long-lived request buffer: as asked if the heap has it, else smaller (logged)."""
    while True:
        gc.collect()
        try:
            return bytearray(size)
        except MemoryError:
            if size // 2 < smallest:
                raise
            log.warn("uplink", "no %d B block for requests; using %d B" % (size, size // 2))
            size //= 2


def load_secrets(path=SECRETS_FILE):
    """(device_id, key bytes) from secrets.json, or (None, None) with the reason logged."""
    try:
        with open(path) as f:
            s = json.load(f)
        return str(s["device_id"]), binascii.unhexlify(s["key"])
    except (OSError, ValueError, KeyError) as e:
        log.error("uplink", "no device identity in %s (%r): uploads are off until it is "
                  "provisioned; readings are kept in the spool" % (path, e))
        return None, None


def setup(app):
    cfg = app.cfg
    sc = cfg.get("spool", {})
    buf = request_buffer(int(cfg.get("uplink", {}).get("max_body", 8192)))
    # a batch must fit in one request with the envelope around it
    batch = min(int(sc.get("batch_bytes", 3072)), len(buf) - ENVELOPE_ROOM)
    spool = Spool(share=sc.get("share", 0.5), batch_bytes=batch,
                  seal_max_s=sc.get("seal_max_s", 900), clock=app.clock).open()
    app.spool = spool
    app.readings.subscribe(spool.put)
    device_id, key = load_secrets()

    def extra():
        items = [(ev.ST_LOG_ERRORS, log.counts["error"]), (ev.ST_LOG_WARNS, log.counts["warn"]),
                 (ev.ST_TASK_FAILS, sum(app.failures.values())),
                 (ev.ST_RESET_CAUSE, app.hw.reset_cause()),
                 (ev.ST_UPTIME, time.ticks_diff(time.ticks_ms(), STARTED_MS) // 1000)]
        for fn in app.status_sources:
            items += fn()
        return items

    def on_config(doc):
        fn = getattr(app, "on_config_push", None)
        if fn is None:
            log.warn("uplink", "the collector pushed a configuration (%d B); no config service "
                     "in this build, ignored" % len(doc))
            return None
        return fn(doc)

    up = Uplink(spool, cfg, device_id or "", key, find_transport=lambda: getattr(app, "modem", None),
                clock=app.clock, leds=app.leds, on_config=on_config, extra_status=extra, buf=buf)
    app.uplink = up
    app.on_reconfigure(("version", "server", "send_period_min", "uplink"), up.reconfigure)
    app.add_task("uplink", lambda: up.run(lambda: app.alive("uplink")), MAX_SILENCE_S)


STARTED_MS = time.ticks_ms()

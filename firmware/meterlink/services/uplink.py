"""The uplink: every send period the pending batches go to the collector, oldest first, in as few
signed requests as the modem's HTTP buffer allows; the answer acks them, sets the clock and may
carry a new configuration.  setup(app) makes it a capability (docs/uplink.md).
"""
import asyncio
import binascii
import gc
import json
import time

from meterlink import VERSION
from meterlink.proto import payload as pl
from meterlink.proto.auth import TAG_LEN
from meterlink.services import log
from meterlink.services.spool import Spool

SECRETS_FILE = "secrets.json"
TECH = {"4G": 4, "2G": 2, "3G": 3}
CLOCK_SOURCES = {None: 0, "rtc": 1, "network": 2, "server": 3}
TICK_MS = 10000          # the task wakes at least this often (watchdog, sealing by age)
NOT_READY_POLL_MS = 2000  # while a due upload waits for the modem to register
REFUSALS_BEFORE_DISCARD = 3
MAX_SILENCE_S = 600      # longer than one HTTP exchange through the modem, with its recovery
ENVELOPE_ROOM = 512      # device id, counters, status and tag around the batches
TEXT_ITEMS = (pl.ST_TECH, pl.ST_OPERATOR, pl.ST_MODEM_STATE, pl.ST_SIM, pl.ST_MODEM_ERROR)
FULL_ONLY_ITEMS = (pl.ST_DEV_TIME, pl.ST_UPTIME)      # change every time; sent with the full status


class Uplink:
    def __init__(self, spool, cfg, device_id, key, transport=None, find_transport=None,
                 clock=None, leds=None, on_config=None, extra_status=None, buf=None):
        up = cfg.get("uplink", {})
        self.spool = spool
        self.url = cfg.get("server", {}).get("url")
        self.period_ms = int(float(cfg.get("send_period_min", 15)) * 60000)
        self.buf = buf if buf is not None else request_buffer(int(up.get("max_body", 8192)))
        self.max_body = len(self.buf)
        self.content_type = up.get("content_type", "application/octet-stream")
        self.retry_ms = int(up.get("retry_s", 60) * 1000)
        self.heartbeat_ms = int(up.get("heartbeat_min", 60) * 60000)
        self.clock_tolerance_s = up.get("clock_tolerance_s", 5)
        self.cfg_version = cfg.get("version", 0)
        self.device_id = device_id
        self.key = key
        self.transport = transport
        self.find_transport = find_transport
        self.clock = clock
        self.leds = leds
        self.on_config = on_config
        self.extra_status = extra_status
        self.alive = lambda: None
        self.not_ready_poll_ms = NOT_READY_POLL_MS
        self.req = 0                # request number within this boot
        self.online = False         # the last upload succeeded
        self.sent_once = False
        self.failures = 0           # failed upload attempts this boot
        self.last_error = None
        self.last_ok_ms = None
        self.bytes_sent = 0
        self._single = False        # next request carries one batch (isolating a refused one)
        self._refused = (0, 0)      # (local seq, times) refused with 400
        self._acked_status = {}     # status item -> value the collector has acknowledged
        self._sent_status = ({}, False)
        self._last_full_ms = None

    # -- the request --

    def _status(self):
        sp = self.spool
        st = sp.st
        items = [(pl.ST_CFG_VERSION, self.cfg_version), (pl.ST_FW, VERSION),
                 (pl.ST_LOST_BATCHES, st["lost_batches"]), (pl.ST_LOST_SETS, st["lost_sets"]),
                 (pl.ST_PENDING, sp.pending_count()), (pl.ST_UPLOAD_FAILS, self.failures)]
        if self.clock is not None:
            items.append((pl.ST_DEV_TIME, int(self.clock.now())))
            items.append((pl.ST_CLOCK, (1 if self.clock.valid() else 0)
                          | CLOCK_SOURCES.get(self.clock.source, 0) << 1))
        t = self.transport
        if t is not None:
            try:
                s = t.status() or {}
                items += [(pl.ST_CSQ, s.get("csq")), (pl.ST_RSSI, s.get("rssi_dbm")),
                          (pl.ST_TECH, s.get("tech")), (pl.ST_OPERATOR, s.get("operator")),
                          (pl.ST_MODEM_STATE, s.get("state")), (pl.ST_SIM, s.get("sim")),
                          (pl.ST_MODEM_ERROR, s.get("last_error"))]
                u = t.usage() or {}
                items += [(pl.ST_USAGE_MONTH, u.get("month")), (pl.ST_USAGE_UP, u.get("up")),
                          (pl.ST_USAGE_DOWN, u.get("down"))]
            except Exception as e:   # noqa: BLE001  status is best effort: the upload matters
                log.warn("uplink", "modem status unavailable: %r" % e)
        if self.extra_status is not None:
            items += self.extra_status()
        # only what changed since the collector's last acknowledgement, all of it now and then
        full = self._last_full_ms is None or time.ticks_diff(
            time.ticks_ms(), self._last_full_ms) >= self.heartbeat_ms
        acked = self._acked_status
        out, sent = [], {}
        for sid, v in items:
            if v is None:
                if sid not in TEXT_ITEMS:
                    continue
                v = ""
            if not full and (sid in FULL_ONLY_ITEMS or acked.get(sid) == v):
                continue
            out.append((sid, v))
            sent[sid] = v
        self._sent_status = (sent, full)
        return pl.status_bytes(out)

    def _status_acked(self):
        sent, full = self._sent_status
        self._acked_status.update(sent)
        if full:
            self._last_full_ms = time.ticks_ms()

    def _build(self):
        """Fill self.buf with one request: ([local seqs], length)."""
        sp = self.spool
        sp.skip_missing()
        status = self._status()
        room = self.max_body - TAG_LEN - len(status) - len(self.device_id) - 40
        seqs = []
        for seq in sp.pending():
            n = sp.size_of(seq)
            if n is None:
                continue
            need = n + 12
            if need > room and not seqs:
                sp.discard(seq, "is larger than uplink.max_body")
                continue
            if need > room:
                break
            seqs.append(seq)
            room -= need
            if self._single:
                break
        buf = self.buf
        pos = pl.envelope_head(buf, self.device_id, sp.st["life"], sp.boot, self.req, status, len(seqs))
        for seq in seqs:
            n = sp.size_of(seq)
            pos = pl.put_uvarint(buf, pos, sp.effective(seq))
            pos = pl.put_uvarint(buf, pos, n)
            if sp.read_into(seq, memoryview(buf)[pos:pos + n]) != n:
                return self._build()      # it vanished or was corrupt (and is now counted)
            pos += n
        return seqs, pl.sign(self.key, buf, pos)

    # -- one cycle --

    async def send_all(self):
        """Send everything pending; True when the collector took it all."""
        sp = self.spool
        if self.online and sp.enc.nsets:
            sp.seal()
        sealed_after = False
        resyncs = 0
        requests = batches = 0
        while True:
            self.alive()
            seqs, length = self._build()
            if not seqs and self.sent_once and not self._status_due():
                break
            ok, progress = await self._post(seqs, length)
            requests += 1
            if ok == "resync" and resyncs < 2:
                resyncs += 1
                continue
            if ok is not True:
                if progress:
                    continue
                self._failed()
                return False
            batches += len(seqs)
            if sp.pending_count():
                if progress:
                    continue
                break
            if sp.enc.nsets and not sealed_after:
                sp.seal()
                sealed_after = True
                continue
            break
        self.online = True
        if self.leds is not None:
            self.leds.set("server", True)
        log.info("uplink", "%d batches in %d requests; pending %d%s" % (
            batches, requests, sp.pending_count(),
            ", spool empty" if not sp.pending_count() and not sp.enc.nsets else ""))
        return True

    def _status_due(self):
        if self.clock is not None and not self.clock.valid():
            return True
        return self.last_ok_ms is None or time.ticks_diff(time.ticks_ms(), self.last_ok_ms) >= self.heartbeat_ms

    def _failed(self):
        self.failures += 1
        self.online = False
        if self.leds is not None:
            self.leds.set("server", False)

    async def _post(self, seqs, length):
        """One request: (True | False | "resync", whether the spool moved)."""
        sp = self.spool
        t0 = time.ticks_ms()
        req_tag = bytes(memoryview(self.buf)[length - TAG_LEN:length])
        self.req += 1
        sp.in_flight = (seqs[0], seqs[-1]) if seqs else None
        try:
            status, body = await self.transport.http_post(
                self.url, memoryview(self.buf)[:length], content_type=self.content_type)
        except Exception as e:   # noqa: BLE001  the transport's errors (ModemError) end here
            self.last_error = getattr(e, "reason", None) or repr(e)
            log.warn("uplink", "upload failed: %s" % self.last_error)
            return False, False
        finally:
            sp.in_flight = None
        self.bytes_sent += length
        rtt_s = time.ticks_diff(time.ticks_ms(), t0) / 1000
        if status in (200, 409):
            try:
                ans = pl.parse_answer(body, self.key, req_tag)
            except (pl.PayloadError, TypeError) as e:
                self.last_error = "bad answer"
                log.error("uplink", "collector answer rejected (%s): nothing acknowledged" % e)
                return False, False
            moved = self._apply_ack(seqs, ans["ack"])
            self._sync_clock(ans["time"], rtt_s)
            if ans["resync"] is not None:
                b, r, last_seq = ans["resync"]
                sp.resync(b, last_seq)
                self.req = 0
                return "resync", moved
            if ans["config"] is not None:
                await self._config(ans["config"])
            if not self.sent_once:
                log.info("uplink", "first upload acknowledged")
            self._status_acked()
            self.sent_once = True
            self.last_ok_ms = time.ticks_ms()
            self.last_error = None
            self._single = False
            return True, moved
        self.last_error = "http %d" % status
        if status in (400, 413) and seqs:
            return False, self._refused_batch(seqs, status)
        if status in (401, 403):
            log.error("uplink", "collector refused the device (%d): check device id and key" % status)
        else:
            log.warn("uplink", "collector answered %d" % status)
        return False, False

    def _apply_ack(self, seqs, ack):
        if not seqs or ack == 0:
            return False
        sp = self.spool
        last = sp.local(ack)
        if last < seqs[0]:
            return False
        first_pending = sp.first
        sp.ack(seqs[0], last)
        return sp.first != first_pending

    def _refused_batch(self, seqs, status):
        """A request the collector cannot take: isolate the batch, then give it up (counted)."""
        if len(seqs) > 1:
            self._single = True
            return True
        seq = seqs[0]
        n = self._refused[1] + 1 if self._refused[0] == seq else 1
        self._refused = (seq, n)
        log.error("uplink", "collector refused batch %d (%d), %d times" % (seq, status, n))
        if n >= REFUSALS_BEFORE_DISCARD:
            self.spool.discard(seq, "refused by the collector (%d)" % status)
            self._single = False
            return True
        return False

    def _sync_clock(self, server_s, rtt_s):
        c = self.clock
        if c is None or not server_s:
            return
        t = server_s + int(rtt_s / 2 + 0.5)
        if not c.valid() or abs(t - c.now()) > self.clock_tolerance_s:
            d = c.set(t, "server")
            log.info("uplink", "clock set from the collector (%+d s)" % d)

    async def _config(self, doc):
        if self.on_config is None:
            log.warn("uplink", "the collector pushed a configuration (%d B) but nothing takes it" % len(doc))
            return
        try:
            r = self.on_config(doc)
            if r is not None and hasattr(r, "send"):
                await r
        except Exception as e:   # noqa: BLE001  a bad push must not stop the uplink
            log.error("uplink", "configuration push failed: %r" % e)

    # -- the task --

    async def _network_time(self):
        c = self.clock
        if c is None or c.valid() or not hasattr(self.transport, "network_time"):
            return
        try:
            t = await self.transport.network_time()
        except Exception as e:   # noqa: BLE001
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
            if self.spool.age_ms() >= self.spool.seal_max_ms:
                self.spool.seal()
            if self.transport is None and self.find_transport is not None:
                self.transport = self.find_transport()
            if time.ticks_diff(time.ticks_ms(), next_ms) >= 0 and not self._modem_not_ready():
                ok = False
                if self.transport is not None and self.key:
                    await self._network_time()
                    ok = await self.send_all()
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
        return [(pl.ST_LOG_ERRORS, log.counts["error"]), (pl.ST_LOG_WARNS, log.counts["warn"]),
                (pl.ST_TASK_FAILS, sum(app.failures.values())),
                (pl.ST_RESET_CAUSE, app.hw.reset_cause()),
                (pl.ST_UPTIME, time.ticks_diff(time.ticks_ms(), STARTED_MS) // 1000)]

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
    app.add_task("uplink", lambda: up.run(lambda: app.alive("uplink")), MAX_SILENCE_S)


STARTED_MS = time.ticks_ms()

"""One upload cycle: the pending batches, oldest first, in as few signed requests as the request
buffer allows; the answer acknowledges them, sets the clock and may carry a configuration."""
import time

from meterlink.proto import envelope as ev
from meterlink.proto.auth import TAG_LEN
from meterlink.proto.varint import PayloadError, put_uvarint
from meterlink.services import log
from meterlink.services.upstatus import StatusReport

REFUSALS_BEFORE_DISCARD = 3


class Uploader:
    def __init__(self, spool, cfg, device_id, key, buf, transport=None, clock=None, leds=None,
                 on_config=None, extra_status=None):
        up = cfg.get("uplink", {})
        self.spool = spool
        self.url = cfg.get("server", {}).get("url")
        self.buf = buf
        self.max_body = len(buf)
        self.content_type = up.get("content_type", "application/octet-stream")
        self.heartbeat_ms = int(up.get("heartbeat_min", 60) * 60000)
        self.clock_tolerance_s = up.get("clock_tolerance_s", 5)
        self.device_id = device_id
        self.key = key
        self.transport = transport
        self.clock = clock
        self.leds = leds
        self.on_config = on_config
        self.on_result = None       # fn(ok): a request reached the collector (True) or failed
        self.reconfigured = False   # a pushed configuration was applied during this cycle
        self._report = False
        self.status = StatusReport(spool, clock, cfg.get("version", 0), self.heartbeat_ms, extra_status)
        self.alive = lambda: None
        self.req = 0                # request number within this boot
        self.online = False         # the last upload succeeded
        self.sent_once = False
        self.failures = 0           # failed upload attempts this boot
        self.last_error = None
        self.last_ok_ms = None
        self._single = False        # next request carries one batch (isolating a refused one)
        self._refused = (0, 0)      # (local seq, times) refused
        self.streak = 0             # failed cycles in a row

    def reconfigure(self, cfg):
        """Take the settings of a new configuration for the next request."""
        up = cfg.get("uplink", {})
        self.url = cfg.get("server", {}).get("url")
        self.content_type = up.get("content_type", "application/octet-stream")
        self.heartbeat_ms = int(up.get("heartbeat_min", 60) * 60000)
        self.clock_tolerance_s = up.get("clock_tolerance_s", 5)
        st = self.status
        st.cfg_version = cfg.get("version", 0)
        st.heartbeat_ms = self.heartbeat_ms
        self.reconfigured = True
        self._report = True         # the next cycle sends its status even with nothing pending

    def _build(self):
        """Fill self.buf with one request: ([local seqs], length)."""
        sp = self.spool
        sp.skip_missing()
        status = self.status.encode(self.transport, self.failures)
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
        pos = ev.envelope_head(buf, self.device_id, sp.st["life"], sp.boot, self.req, status, len(seqs))
        for seq in seqs:
            n = sp.size_of(seq)
            pos = put_uvarint(buf, pos, sp.effective(seq))
            pos = put_uvarint(buf, pos, n)
            if sp.read_into(seq, memoryview(buf)[pos:pos + n]) != n:
                return self._build()      # it was corrupt (and is now counted as lost)
            pos += n
        return seqs, ev.sign(self.key, buf, pos)

    async def send_all(self):
        """Send everything pending; True when the collector took it all."""
        sp = self.spool
        if self.online and sp.enc.nsets:
            sp.seal()
        sealed_after = False
        resyncs = requests = batches = 0
        while True:
            self.alive()
            seqs, length = self._build()
            if not seqs and self.sent_once and not self._status_due():
                break
            ok, progress = await self._post(seqs, length)
            requests += 1
            if ok is True and self.reconfigured:
                break       # the rest goes in a new cycle, with the new settings
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
            if sp.enc.nsets and not sealed_after:   # back online: what came in meanwhile
                sp.seal()
                sealed_after = True
                continue
            break
        self.online = True
        if self.streak:
            log.info("uplink", "collector reached again after %d failed attempts" % self.streak)
            self.streak = 0
        if self.leds is not None:
            self.leds.set("server", True)
        log.info("uplink", "%d batches in %d requests; pending %d%s" % (
            batches, requests, sp.pending_count(),
            ", spool empty" if not sp.pending_count() and not sp.enc.nsets else ""))
        return True

    def _status_due(self):
        if self._report or (self.clock is not None and not self.clock.valid()):
            return True
        return self.last_ok_ms is None or time.ticks_diff(time.ticks_ms(), self.last_ok_ms) >= self.heartbeat_ms

    def _failed(self):
        self.failures += 1
        self.streak += 1
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
            # the answer is read into the request buffer (the request has left by then): a
            # pushed configuration of several kB needs no second block of that size
            status, body = await self.transport.http_post(
                self.url, memoryview(self.buf)[:length], content_type=self.content_type, into=self.buf)
        except Exception as e:   # noqa: BLE001  the transport's errors (ModemError) end here
            self.last_error = getattr(e, "reason", None) or repr(e)
            self._result(False)
            # the first failure of an outage is a warning (kept on flash), the rest are not
            log.log("warn" if not self.streak else "info", "uplink", "upload failed: %s" % self.last_error)
            return False, False
        finally:
            sp.in_flight = None
        if status not in (200, 409):
            return self._refused_answer(seqs, status)
        try:
            ans = ev.parse_answer(body, self.key, req_tag)
        except (PayloadError, TypeError, MemoryError) as e:
            self.last_error = "bad answer"
            self._result(False)
            log.error("uplink", "collector answer rejected (%s): nothing acknowledged" % e)
            return False, False
        self._result(True)
        moved = self._apply_ack(seqs, ans["ack"])
        self._sync_clock(ans["time"], time.ticks_diff(time.ticks_ms(), t0) / 1000)
        if ans["resync"] is not None:
            b, _, last_seq = ans["resync"]
            sp.resync(b, last_seq)
            self.req = 0
            return "resync", moved
        if ans["config"] is not None:
            await self._config(ans["config"])
        if not self.sent_once:
            log.info("uplink", "first upload acknowledged")
        self.status.acked()
        if not self.reconfigured:
            self._report = False
        self.sent_once = True
        self.last_ok_ms = time.ticks_ms()
        self.last_error = None
        self._single = False
        return True, moved

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

    def _result(self, ok):
        if self.on_result is not None:
            self.on_result(ok)

    def _refused_answer(self, seqs, status):
        self.last_error = "http %d" % status
        if status not in (400, 413):
            self._result(False)     # not our collector, or it is in trouble
        if status in (401, 403):
            log.error("uplink", "collector refused the device (%d): check device id and key" % status)
            return False, False
        if status not in (400, 413) or not seqs:
            log.warn("uplink", "collector answered %d" % status)
            return False, False
        # a request the collector cannot take: isolate the batch, then give it up (counted)
        if len(seqs) > 1:
            self._single = True
            return False, True
        seq = seqs[0]
        n = self._refused[1] + 1 if self._refused[0] == seq else 1
        self._refused = (seq, n)
        log.error("uplink", "collector refused batch %d (%d), %d times" % (seq, status, n))
        if n < REFUSALS_BEFORE_DISCARD:
            return False, False
        self.spool.discard(seq, "refused by the collector (%d)" % status)
        self._single = False
        return False, True

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

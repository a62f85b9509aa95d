"""The status that rides on every upload: signal, operator, technology, data usage, losses,
error counters, configuration version.  Items travel when they changed since the collector's
last acknowledgement, and all of them every heartbeat."""
import time

from meterlink import VERSION
from meterlink.proto import envelope as ev
from meterlink.services import log

CLOCK_SOURCES = {None: 0, "rtc": 1, "network": 2, "server": 3}
TEXT_ITEMS = (ev.ST_TECH, ev.ST_OPERATOR, ev.ST_MODEM_STATE, ev.ST_SIM, ev.ST_MODEM_ERROR)
FULL_ONLY_ITEMS = (ev.ST_DEV_TIME, ev.ST_UPTIME)      # change every time: with the full status only


class StatusReport:
    def __init__(self, spool, clock, cfg_version, heartbeat_ms, extra=None):
        self.spool = spool
        self.clock = clock
        self.cfg_version = cfg_version
        self.heartbeat_ms = heartbeat_ms
        self.extra = extra            # callable -> [(item id, value)] the app adds
        self._acked = {}              # item -> value the collector has acknowledged
        self._sent = ({}, False)
        self._last_full_ms = None

    def items(self, transport, failures):
        st = self.spool.st
        items = [(ev.ST_CFG_VERSION, self.cfg_version), (ev.ST_FW, VERSION),
                 (ev.ST_LOST_BATCHES, st["lost_batches"]), (ev.ST_LOST_SETS, st["lost_sets"]),
                 (ev.ST_PENDING, self.spool.pending_count()), (ev.ST_UPLOAD_FAILS, failures)]
        c = self.clock
        if c is not None:
            items.append((ev.ST_DEV_TIME, int(c.now())))
            items.append((ev.ST_CLOCK, (1 if c.valid() else 0) | CLOCK_SOURCES.get(c.source, 0) << 1))
        if transport is not None:
            try:
                s = transport.status() or {}
                items += [(ev.ST_CSQ, s.get("csq")), (ev.ST_RSSI, s.get("rssi_dbm")),
                          (ev.ST_TECH, s.get("tech")), (ev.ST_OPERATOR, s.get("operator")),
                          (ev.ST_MODEM_STATE, s.get("state")), (ev.ST_SIM, s.get("sim")),
                          (ev.ST_MODEM_ERROR, s.get("last_error"))]
                u = transport.usage() or {}
                items += [(ev.ST_USAGE_MONTH, u.get("month")), (ev.ST_USAGE_UP, u.get("up")),
                          (ev.ST_USAGE_DOWN, u.get("down"))]
            except Exception as e:   # noqa: BLE001  status is best effort: the upload matters
                log.warn("uplink", "modem status unavailable: %r" % e)
        if self.extra is not None:
            items += self.extra()
        return items

    def encode(self, transport, failures):
        """The status bytes for the next request."""
        full = self._last_full_ms is None or time.ticks_diff(
            time.ticks_ms(), self._last_full_ms) >= self.heartbeat_ms
        acked = self._acked
        out, sent = [], {}
        for sid, v in self.items(transport, failures):
            if v is None:
                if sid not in TEXT_ITEMS:
                    continue
                v = ""               # a text that went away (an error cleared)
            if not full and (sid in FULL_ONLY_ITEMS or acked.get(sid) == v):
                continue
            out.append((sid, v))
            sent[sid] = v
        self._sent = (sent, full)
        return ev.status_bytes(out)

    def acked_value(self, sid):
        """The value of item `sid` the collector last acknowledged (None if none)."""
        return self._acked.get(sid)

    def acked(self):
        """The collector answered the request carrying the last encode()."""
        sent, full = self._sent
        self._acked.update(sent)
        if full:
            self._last_full_ms = time.ticks_ms()

"""Configuration pushed by the collector: checked (signature, version, schema), applied live where
the capabilities can, confirmed by a successful upload, rolled back when it breaks the uplink.
The outcome goes to the collector in the status of the next uploads (docs/config-push.md)."""
import asyncio
import gc
import json
import time

from meterlink.proto import config as configmod
from meterlink.proto import envelope as ev
from meterlink.services import log

STATE_FILE = "config.state.json"
CONFIRMED_FILE = "config.confirmed.json"
REASON_MAX = 160         # characters of a reason in the status: the first fields named
TICK_MS = 30000
MAX_SILENCE_S = 120
TRIAL_MARGIN_MIN = 10    # on top of rollback_after send periods without a successful upload
CRASH_CAUSES = (2, 3)    # hard reset (the app crashed), watchdog
# The sections that decide how the terminal reaches the collector.  Only a document that changes
# one of them is judged by the uploads: when the others change, a failed upload is an outage of
# the network or the server, and rolling back would throw away a good configuration.  A crash
# or watchdog reset during the trial rolls back any document.
NET_SECTIONS = ("server", "apn", "network", "modem", "uplink", "spool")
ITEMS = (("refused", ev.ST_CFG_REFUSED_VERSION, ev.ST_CFG_REFUSED),
         ("rolled_back", ev.ST_CFG_ROLLED_BACK_VERSION, ev.ST_CFG_ROLLED_BACK))


class ConfigPush:
    def __init__(self, app, state_file=STATE_FILE, confirmed_file=CONFIRMED_FILE,
                 config_file=configmod.CONFIG_FILE):
        self.app = app
        self.state_file = state_file
        self.confirmed_file = confirmed_file
        self.config_file = config_file
        self.st = self._load()
        self.trial_ms = time.ticks_ms()
        trial = self.st["trial"]
        if trial is not None and trial != app.cfg["version"]:
            self.st["trial"] = None       # config.json changed under the trial (a technician)
            self._save()

    # -- state on flash --

    def _load(self):
        st = {"high": 0, "trial": None, "net": True, "failed": 0, "refused": None, "rolled_back": None}
        try:
            with open(self.state_file) as f:
                st.update(json.load(f))
        except (OSError, ValueError):
            pass
        return st

    def _save(self):
        try:
            configmod.write_atomic(self.state_file, json.dumps(self.st))
        except OSError as e:
            log.error("config", "cannot save %s: %r" % (self.state_file, e))

    # -- a document arrives --

    def on_push(self, data):
        """A document from the collector's answer: refused (reported), or running."""
        # imported here: the document check costs heap only once a document has come
        from meterlink.proto.configpush import Refused, check_version, open_signed
        up = self.app.uplink
        running = self.app.cfg["version"]
        try:
            version, text = open_signed(data, up.key, up.device_id)
            try:
                doc = json.loads(text)
            except (ValueError, UnicodeError) as e:
                raise Refused("config", "not valid JSON (%s)" % e, version)
            except MemoryError:
                raise Refused("config", "%d B: too large for this terminal's memory" % len(text), version)
            if not check_version(version, doc, running, self.st["high"]):
                log.info("config", "version %d pushed again; it runs already" % version)
                return
        except Refused as e:
            return self._refuse(e.version, str(e))
        self.st["high"] = version      # signed and newer: it is never taken a second time
        gc.collect()                   # a site's document can be several kB, parsed into dicts
        try:
            cfg = configmod.check(doc)
            doc = None
            self._keep_confirmed()     # what runs now has just reached the collector
            configmod.write_atomic(self.config_file, text)
        except configmod.ConfigError as e:
            return self._refuse(version, "; ".join(e.errors))
        except MemoryError:
            doc = None
            return self._refuse(version, "config: %d B: too large for this terminal's memory" % len(text))
        except OSError as e:
            return self._refuse(version, "flash: cannot write the configuration (%r)" % e)
        old = self.app.cfg
        net = [k for k in NET_SECTIONS if cfg.get(k) != old.get(k)]
        self.st["trial"] = version
        self.st["net"] = bool(net)
        self.st["failed"] = 0
        self._save()
        self.trial_ms = time.ticks_ms()
        if net:
            log.info("config", "version %d taken (was %d); it changes %s: on trial until an upload "
                     "succeeds" % (version, running, ", ".join(net)), flash=True)
        else:
            log.info("config", "version %d taken (was %d); the uplink settings are unchanged: failed "
                     "uploads do not roll it back, a crash does" % (version, running), flash=True)
        self.app.apply_config(cfg)

    def _refuse(self, version, reason):
        log.error("config", "pushed version %d refused: %s" % (version, reason))
        self.st["refused"] = [version, reason[:REASON_MAX]]
        self._save()

    def _keep_confirmed(self):
        """Make the confirmed copy the configuration that runs now (it reached the collector)."""
        try:
            with open(self.config_file) as f:
                text = f.read()
        except OSError:
            text = "{}"               # the built-in defaults run
        try:
            with open(self.confirmed_file) as f:
                same = f.read() == text
        except OSError:
            same = False
        if not same:
            configmod.write_atomic(self.confirmed_file, text)

    # -- what the uploads say --

    def on_result(self, ok):
        """An upload request reached the collector (ok) or failed."""
        st = self.st
        if st["trial"] is None:
            return
        if ok:
            version = st["trial"]
            try:
                self._keep_confirmed()
            except OSError as e:
                log.warn("config", "cannot keep the confirmed configuration: %r" % e)
            st["trial"] = None
            st["failed"] = 0
            self._save()
            log.info("config", "version %d confirmed by a successful upload" % version, flash=True)
            return
        if not st["net"]:
            return                    # it cannot be what keeps the uploads from arriving
        st["failed"] += 1
        self._save()
        limit = self.app.cfg.get("uplink", {}).get("rollback_after", 3)
        if st["failed"] >= limit:
            self.rollback("%d failed uploads (last: %s)"
                          % (st["failed"], getattr(self.app.uplink, "last_error", None)))

    def rollback(self, reason):
        """Back to the confirmed configuration: live where it can be, else by a restart."""
        st = self.st
        version = st["trial"]
        st["trial"] = None
        st["failed"] = 0
        try:
            with open(self.confirmed_file) as f:
                text = f.read()
            cfg = configmod.parse(text)
            configmod.write_atomic(self.config_file, text)
        except (OSError, configmod.ConfigError) as e:
            self._save()
            log.error("config", "version %d broke the uplink (%s) but cannot be rolled back: %r"
                      % (version, reason, e))
            return
        st["rolled_back"] = [version, reason[:REASON_MAX]]
        self._save()
        log.error("config", "version %d rolled back to %d: %s" % (version, cfg["version"], reason))
        self.app.apply_config(cfg)

    def crashed_boot(self, cause):
        """A trial that ended in a crash (watchdog, hard reset) is rolled back at once."""
        if self.st["trial"] is not None and cause in CRASH_CAUSES:
            self.rollback("the terminal reset (%s) during the trial" % self.app.hw.reset_cause_name())

    # -- the status items, and the task --

    def status(self):
        out = []
        for key, vid, rid in ITEMS:
            item = self.st[key]
            if item:
                out += [(vid, item[0]), (rid, item[1])]
        return out

    def _forget_reported(self):
        """Drop refusals and rollbacks the collector has acknowledged: they need no more air."""
        rep = getattr(getattr(self.app, "uplink", None), "status", None)
        if rep is None:
            return
        changed = False
        for key, vid, rid in ITEMS:
            item = self.st[key]
            if item and rep.acked_value(vid) == item[0] and rep.acked_value(rid) == item[1]:
                self.st[key] = None
                changed = True
        if changed:
            self._save()

    def _trial_limit_ms(self):
        cfg = self.app.cfg
        periods = cfg.get("uplink", {}).get("rollback_after", 3)
        return int((periods * float(cfg.get("send_period_min", 15)) + TRIAL_MARGIN_MIN) * 60000)

    async def run(self):
        while True:
            self.app.alive("config")
            if self.st["trial"] is not None and self.st["net"] and \
                    time.ticks_diff(time.ticks_ms(), self.trial_ms) >= self._trial_limit_ms():
                self.rollback("no successful upload in %d min" % (self._trial_limit_ms() // 60000))
            self._forget_reported()
            await asyncio.sleep_ms(TICK_MS)


def setup(app):
    svc = ConfigPush(app)
    app.config_push = svc
    app.on_config_push = svc.on_push
    app.status_sources.append(svc.status)
    up = getattr(app, "uplink", None)
    if up is not None:
        up.on_result = svc.on_result
    svc.crashed_boot(app.hw.reset_cause())
    app.add_task("config", svc.run, MAX_SILENCE_S)

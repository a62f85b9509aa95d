"""The modem capability: `app.modem`, the interface the uplink uses (http_post, status,
network_time, usage), over the supervisor state machine in modemfsm.py."""
import asyncio
import gc
import time

from meterlink.drivers.modem import errors
from meterlink.drivers.modem.errors import AtError, AtTimeout, ModemError
from meterlink.proto import atparse as ap
from meterlink.services import datausage, log
from meterlink.services.clock import VALID_AFTER
from meterlink.services.modemfsm import Supervisor, TAG

REOPEN_AFTER = 3            # this many failed requests in a row: open the data session anew

# what a failed request put on the air (datausage.estimate outcomes; else "sent")
_OUTCOME = {"dns": "dns", "connect": "connect"}

# states in which a request waits for the session, and what it reports if that never comes
_NOT_READY = {"sim_locked": errors.SimLocked, "no_sim": errors.NoSim, "no_modem": errors.ModemHung,
              "register": errors.NoNetwork, "mode": errors.NoNetwork, "attach": errors.PdpError}
_BY_REASON = {"modem_hung": errors.ModemHung, "no_network": errors.NoNetwork, "pdp": errors.PdpError,
              "sim_pin": errors.SimLocked, "no_sim": errors.NoSim}


class Modem(Supervisor):
    @property
    def max_body(self):
        """The largest request body http_post takes."""
        return self.adapter.MAX_BODY if self.adapter else 0

    async def http_post(self, url, body, content_type="application/octet-stream", into=None):
        """POST `body` to `url`; (HTTP status, response body).  `into`: a buffer the response
        is read into when it fits (it may be the request's own: that has left by then).

        Waits (at most modem.session_wait_s) for a data session.  Raises a ModemError
        subclass (`.reason`: no_sim, sim_pin, no_network, pdp, dns, connect, http_timeout,
        http, modem_hung, modem_reset); the supervisor takes care of the recovery.
        """
        if self.adapter is None:
            raise errors.ModemHung("this board has no modem (no modem UART)")
        if len(body) > self.max_body:
            raise ValueError("body of %d bytes: the modem takes at most %d" % (len(body), self.max_body))
        await self._session()
        try:
            return await self._post(url, body, content_type, into)
        finally:
            self._busy.release()
            gc.collect()

    async def _post(self, url, body, content_type, into):
        outcome = "sent"
        resp = b""
        size = len(body)        # `into` may be the body's buffer: the answer overwrites it
        try:
            await self._refresh()
            url = await self._resolved(url)
            status, resp = await self.adapter.http_post(url, body, content_type,
                                                        self.opt("http_timeout_s") * 1000, into)
            outcome = "ok"
            self.http_failures = 0
            self.requests += 1
            return status, resp
        except AtTimeout as e:
            self._trouble("modem_hung", str(e))
            raise errors.ModemHung("the modem stopped answering: %s" % e)
        except AtError as e:
            self._trouble("http", str(e))
            raise errors.HttpFailed(str(e))
        except ModemError as e:
            outcome = _OUTCOME.get(e.reason, "sent")
            self._trouble(e.reason, str(e))
            raise
        finally:
            if self.adapter.on_air:
                self._count(url, size, content_type, len(resp), outcome)

    async def _resolved(self, url):
        """`url` with its host name replaced by an address asked once per modem.dns_cache_s.

        The modem's HTTP stack would look the name up for every request: at a 1-minute send
        period that is about an eighth of the bytes on air.  The Host header then carries the
        address: a server behind name-based virtual hosting needs dns_cache_s 0.
        """
        ttl = self.opt("dns_cache_s")
        scheme, host, port, path = ap.split_url(url)
        if not ttl or scheme != "http" or ap.is_ip(host):
            return url
        hit = self._dns.get(host)
        now = time.ticks_ms()
        if hit is None or time.ticks_diff(now, hit[1]) > ttl * 1000:
            ip = await self.adapter.resolve(host)
            if ip is None:
                return url          # the HTTP stack looks it up itself
            q, a = datausage.dns_bytes(host)
            self.usage_store.add(q, a)
            hit = self._dns[host] = (ip, now)
        return "http://%s%s%s" % (hit[0], "" if port is None else ":%d" % port, path)

    def _trouble(self, reason, detail):
        self.last_error = reason
        if reason in ("dns", "connect"):
            self._dns.clear()       # the server may have moved
        log.warn(TAG, "request failed: %s (%s)" % (reason, detail))
        if reason in ("modem_hung", "modem_reset", "pdp"):
            self._online.clear()      # later requests wait for the recovery
        if reason == "modem_hung":
            self._hung = self.state == "online"     # else the supervisor is at it already
        elif reason == "pdp":
            self._pdp_lost = True
        elif reason in ("dns", "connect", "http_timeout", "http"):
            self.http_failures += 1
            if self.http_failures >= REOPEN_AFTER:
                self.http_failures = 0
                self._pdp_lost = True
        self._kick.set()

    async def _session(self):
        """Wait (bounded) until the data session is up and hold `_busy` for the request."""
        until = time.ticks_add(time.ticks_ms(), self.opt("session_wait_s") * 1000)
        while True:
            if self.state in ("sim_locked", "no_sim", "no_modem"):
                raise self._not_ready()
            left = time.ticks_diff(until, time.ticks_ms())
            if left <= 0:
                raise self._not_ready()
            try:
                await asyncio.wait_for_ms(self._online.wait(), left)
            except asyncio.TimeoutError:
                raise self._not_ready()
            await self._busy.acquire()      # its holders all work to deadlines
            if self._online.is_set():
                return
            self._busy.release()      # the session went away while we queued: wait again

    def _not_ready(self):
        cls = _NOT_READY.get(self.state) or _BY_REASON.get(self.last_error) or errors.NoNetwork
        return cls("no data session (modem %s, last error %s)" % (self.state, self.last_error))

    async def _refresh(self):
        """Signal and access technology as they are now: they go into each upload."""
        self.csq = await self.adapter.signal()
        reg, _denied, tech = await self.adapter.registration()
        if reg and tech != self.tech:
            log.info(TAG, "now on %s" % tech)
            self.tech = tech
            self._leds()

    def _count(self, url, body_len, content_type, resp_len, outcome):
        _scheme, host, port, path = ap.split_url(url)
        hostport = host if port is None else "%s:%d" % (host, port)
        up, down = datausage.estimate(hostport, path, content_type, body_len, resp_len, outcome,
                                      self.adapter.HTTP_HEADER_BYTES, ap.is_ip(host))
        self.usage_store.add(up, down)

    def status(self):
        return {
            "registered": self.registered, "tech": self.tech, "operator": self.operator,
            "csq": self.csq, "rssi_dbm": ap.rssi_dbm(self.csq), "state": self.state,
            "sim": self.sim, "last_error": self.last_error, "model": self.model,
            "reboots": self.reboots, "requests": self.requests, "sms": self.sms,
            "mode": self._mode(), "online": self._online.is_set(),
        }

    def usage(self):
        """{"month": "YYYY-MM", "up": bytes, "down": bytes} billed this month (estimated)."""
        return self.usage_store.report()

    async def network_time(self):
        """Unix seconds (UTC) from the network (NITZ in the modem's clock, else NTP), or None."""
        if self.adapter is None or self.state in ("off", "power_on", "boot", "power_cycle", "no_modem"):
            return None
        try:
            t = await self.adapter.clock()
            if t is not None and t >= VALID_AFTER:
                return t
            if self._online.is_set():
                async with self._busy:
                    ok = await self.adapter.ntp(self.opt("ntp_server"))
                    self._count_ntp()
                    if ok:
                        t = await self.adapter.clock()
                        if t is not None and t >= VALID_AFTER:
                            return t
        except (AtError, AtTimeout, ModemError) as e:
            log.warn(TAG, "network time: %r" % e)
        return None


def setup(app):
    m = Modem(app)
    app.modem = m
    app.on_reconfigure(("apn", "network", "modem"), m.reconfigure)
    if m.at is None:
        return       # no modem UART on this board: status() says so, requests fail clearly
    app.add_task(TAG, m.run, m.MAX_SILENCE_S)
    app.add_task(TAG + "_rx", m.reader, 60)


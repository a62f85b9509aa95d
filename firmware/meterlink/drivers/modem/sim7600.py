"""SIMCom SIM7600 (LTE Cat-1/4 with GSM fallback): network mode, CPSI, NETOPEN and its
HTTP(S) service, whose HTTPREAD answers OK first and then the body in +HTTPREAD: DATA blocks."""
from meterlink.drivers.modem import errors
from meterlink.drivers.modem.base import Adapter
from meterlink.proto import atparse as ap

# AT+CNMP values: 2 automatic (LTE preferred), 38 LTE only, 13 GSM only
MODES = {"auto": 2, "4g": 38, "2g": 13}


def _read_end(line):
    return line[10:].strip() == "0"


class Sim7600(Adapter):
    MODEL = "sim7600"
    ON_PULSE_MS = 500
    OFF_PULSE_MS = 3000
    BOOT_MS = 30000
    MAX_BODY = 16384
    HTTP_ABORTS = ("+HTTP_NONET_EVENT", "+CIPEVENT: NETWORK CLOSED")
    PDP_LOST = ("+HTTP_NONET_EVENT", "+CIPEVENT: NETWORK CLOSED", "+CGEV: NW PDN DEACT",
                "+CGEV: NW DEACT", "+CGEV: ME DETACH", "+CGEV: ME PDN DEACT", "+CGEV: NW DETACH",
                "+CGEV: ME DEACT")
    REG_URCS = ("+CREG:", "+CGREG:", "+CEREG:")
    NTP_OK = 0
    HAS_4G = True

    async def init(self):
        model = await Adapter.init(self)
        at = self.at
        await at.cmd("AT+CEREG=1")
        await at.cmd("AT+CTZU=1", check=False)     # take the time from the network (NITZ)
        await at.cmd("AT+CTZR=0", check=False)     # without time-zone URCs
        return model

    async def set_mode(self, mode):
        await self.at.cmd("AT+CNMP=%d" % MODES[mode], timeout_ms=10000)

    async def set_apn(self, apn, user, password):
        at = self.at
        await at.cmd('AT+CGDCONT=1,"IP","%s"' % apn)
        if user or password:
            # SIMCom order: <cid>,<auth type>,<password>,<user>; 1 = PAP
            await at.cmd('AT+CGAUTH=1,1,"%s","%s"' % (password, user))

    async def registration(self):
        eps = await self._reg("CEREG")
        ps = await self._reg("CGREG")
        cs = await self._reg("CREG")
        registered = ap.is_registered(eps) or ap.is_registered(ps)
        denied = not registered and ap.REG_DENIED in (eps, ps, cs)
        tech = None
        if registered:
            r = await self.at.cmd("AT+CPSI?", expect="+CPSI:", check=False)
            if r.lines:
                tech = ap.cpsi(r.line())[0]
            if tech is None:
                tech = "4G" if ap.is_registered(eps) else "2G"
        return registered, denied, tech

    async def open_data(self, apn, user, password):
        r = await self.at.cmd("AT+NETOPEN", timeout_ms=5000, expect="+IP ERROR:", urc="+NETOPEN:",
                              urc_ms=75000, check=False)
        if r.ok and r.urc is not None and ap.to_int(ap.fields(r.urc)[0]) == 0:
            return
        if r.lines and "already opened" in r.lines[0]:
            return
        raise errors.PdpError("NETOPEN failed: %s" % (r.urc or r.final))

    async def data_up(self):
        r = await self.at.cmd("AT+NETOPEN?", expect="+NETOPEN:", check=False)
        return bool(r.lines) and ap.to_int(ap.fields(r.line())[0]) == 1

    async def close_data(self):
        await self.at.cmd("AT+NETCLOSE", timeout_ms=5000, urc="+NETCLOSE:", urc_ms=60000, check=False)

    async def _http_read(self, length, into=None):
        # OK, then "+HTTPREAD: DATA,<n>" blocks (or "+HTTPREAD: <n>"), then the end mark:
        # "+HTTPREAD: 0" as the manual shows it, "+HTTPREAD:0" as many firmwares print it
        sink = self._sink(length, into)
        r = await self.at.cmd("AT+HTTPREAD=0,%d" % length, timeout_ms=5000, expect="+HTTPREAD:",
                              urc="+HTTPREAD:", urc_accept=_read_end, urc_ms=10000 + length // 4,
                              sink=sink)
        return r.payload(sink)

    async def power_off_command(self):
        r = await self.at.cmd("AT+CPOF", timeout_ms=5000, check=False)
        return r.ok

    async def resolve(self, host):
        r = await self.at.cmd('AT+CDNSGIP="%s"' % host, timeout_ms=30000, expect="+CDNSGIP:",
                              check=False)
        return ap.cdnsgip(r.line()) if r.lines else None

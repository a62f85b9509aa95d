"""SIMCom SIM800 (2G only): the SAPBR bearer and its HTTP service, plain HTTP (its TLS is too
old to rely on; the payload is authenticated instead).  HTTPREAD: '+HTTPREAD: <n>', body, OK."""
from meterlink.drivers.modem import errors
from meterlink.drivers.modem.base import Adapter
from meterlink.proto import atparse as ap


class Sim800(Adapter):
    MODEL = "sim800"
    ON_PULSE_MS = 1000
    OFF_PULSE_MS = 2000          # more than 1.5 s, less than 33 s
    BOOT_MS = 10000
    MAX_BODY = 8192
    HTTP_ABORTS = ("+SAPBR 1: DEACT", "+PDP: DEACT")
    PDP_LOST = ("+SAPBR 1: DEACT", "+PDP: DEACT")
    REG_URCS = ("+CREG:", "+CGREG:")
    NTP_OK = 1
    HTTP_HEADER_BYTES = 60
    HAS_4G = False

    async def init(self):
        model = await Adapter.init(self)
        await self.at.cmd("AT+CLTS=1", check=False)     # local time stamps from the network
        return model

    async def set_apn(self, apn, user, password):
        at = self.at
        await at.cmd('AT+SAPBR=3,1,"Contype","GPRS"')
        await at.cmd('AT+SAPBR=3,1,"APN","%s"' % apn)
        if user:
            await at.cmd('AT+SAPBR=3,1,"USER","%s"' % user)
        if password:
            await at.cmd('AT+SAPBR=3,1,"PWD","%s"' % password)

    async def registration(self):
        cs = await self._reg("CREG")
        ps = await self._reg("CGREG")
        registered = ap.is_registered(cs) or ap.is_registered(ps)
        denied = not registered and ap.REG_DENIED in (cs, ps)
        return registered, denied, ("2G" if registered else None)

    async def open_data(self, apn, user, password):
        if await self.data_up():
            return
        await self.at.cmd("AT+SAPBR=1,1", timeout_ms=85000, check=False)
        if not await self.data_up():
            raise errors.PdpError("the GPRS bearer did not open")

    async def data_up(self):
        r = await self.at.cmd("AT+SAPBR=2,1", timeout_ms=30000, expect="+SAPBR:", check=False)
        if not r.lines:
            return False
        f = ap.fields(r.line())
        return len(f) >= 2 and f[1] == "1"

    async def close_data(self):
        await self.at.cmd("AT+SAPBR=0,1", timeout_ms=65000, check=False)

    async def _http_setup(self, timeout_ms):
        await self.at.cmd('AT+HTTPPARA="CID",1')
        # its own session timeout (120 s by default, 30-1000 s) below ours, so it reports
        # +HTTPACTION before we give up and no late answer arrives in the next session; older
        # firmware that does not know the parameter says ERROR, which changes nothing
        s = max(30, timeout_ms // 1000 - 10)
        await self.at.cmd('AT+HTTPPARA="TIMEOUT",%d' % s, check=False)

    async def _http_read(self, length, into=None):
        sink = self._sink(length, into)
        r = await self.at.cmd("AT+HTTPREAD", timeout_ms=10000 + length // 4, expect="+HTTPREAD:",
                              sink=sink)
        return r.payload(sink)

    async def _ntp_setup(self, server):
        await self.at.cmd("AT+CNTPCID=1")
        await self.at.cmd('AT+CNTP="%s",0' % server)

    async def power_off_command(self):
        r = await self.at.cmd("AT+CPOWD=1", timeout_ms=10000, finals=("NORMAL POWER DOWN",), check=False)
        return r.ok

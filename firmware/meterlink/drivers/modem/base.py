"""What SIMCom modems share: start-up, SIM, signal, operator, clock, and the HTTP(S) service
(HTTPINIT / HTTPPARA / HTTPDATA / HTTPACTION / HTTPREAD / HTTPTERM).  Models subclass it."""
from meterlink.drivers.modem import errors
from meterlink.drivers.modem.errors import AtError, AtTimeout
from meterlink.proto import atparse as ap

HTTP_DNS = (603, 713)
HTTP_TIMEOUT = (705, 718)
HTTP_CONNECT = (704, 706, 712, 714, 715, 716)
HTTP_NETWORK = (601, 709, 717)
HTTP_BUSY = (604, 703)

# lines a modem prints by itself when it starts (or its SIM/radio restarts); "*ATREADY: 1"
# is the first line of SIM7600/A76xx firmwares that print no RDY
BOOT_URCS = ("RDY", "SMS DONE", "PB DONE", "Call Ready", "SMS Ready", "+CFUN: 1", "*ATREADY")


def _bare_answer(line):
    return not line.startswith("+") and not line.startswith("*") and line not in BOOT_URCS


class Adapter:
    MODEL = "?"
    ON_PULSE_MS = 500          # PWRKEY pulses if the board file names none
    OFF_PULSE_MS = 3000
    BOOT_MS = 30000            # power-on until it answers AT, at most
    MAX_BODY = 8192            # largest request body we send in one HTTPDATA
    HTTP_ABORTS = ()           # URCs that end an HTTPACTION wait (the data session dropped)
    PDP_LOST = ()              # URCs that mean the data session is gone
    NTP_OK = 0                 # the +CNTP: result code for success
    HTTP_HEADER_BYTES = 64     # headers the modem's HTTP stack adds (User-Agent, Accept...)
    HAS_4G = False

    def __init__(self, at):
        self.at = at
        self.on_air = False

    # -- start-up --

    async def init(self):
        at = self.at
        await at.cmd("ATE0")
        await at.cmd("AT+CMEE=2")
        await at.cmd("AT+CREG=1")
        await at.cmd("AT+CGREG=1")
        r = await at.cmd("AT+CGMM", expect="", accept=_bare_answer, check=False)
        return r.line()

    async def sim_state(self):
        r = await self.at.cmd("AT+CPIN?", timeout_ms=5000, expect="+CPIN:", check=False)
        if r.lines:
            return ap.cpin(r.lines[0])
        if r.final and r.final.startswith("+CME ERROR:"):
            return ap.cpin(r.final)
        return "unknown"

    async def radio(self, on):
        await self.at.cmd("AT+CFUN=%d" % (1 if on else 0), timeout_ms=15000)

    async def power_off_command(self):
        """Ask the modem to shut down (False if it did not take the command)."""
        return False

    # -- network --

    async def set_mode(self, mode):
        """Network preference: '4g' (only), '2g' (only) or 'auto' (4G first)."""

    async def set_apn(self, apn, user, password):
        """Define the data context before registering."""

    async def signal(self):
        r = await self.at.cmd("AT+CSQ", expect="+CSQ:")
        return ap.csq(r.line()) if r.lines else None

    async def operator(self):
        r = await self.at.cmd("AT+COPS?", timeout_ms=5000, expect="+COPS:", check=False)
        return ap.cops(r.line()) if r.lines else (None, None)

    async def _reg(self, name):
        r = await self.at.cmd("AT+%s?" % name, expect="+%s:" % name, accept=ap.is_reg_query, check=False)
        return ap.reg_query_stat(r.line()) if r.lines else None

    async def registration(self):
        """(registered for data, denied, tech or None)."""
        raise NotImplementedError

    # -- data session --

    async def open_data(self, apn, user, password):
        raise NotImplementedError

    async def data_up(self):
        raise NotImplementedError

    async def close_data(self):
        pass

    # -- HTTP --

    async def resolve(self, host):
        """The address of `host` from the network's DNS, or None (a model that cannot ask
        outside its HTTP stack, or a failed lookup)."""
        return None

    async def _http_setup(self, timeout_ms):
        pass

    async def http_post(self, url, body, content_type, timeout_ms, into=None):
        """(status, answer); `into`: a buffer the answer goes into when it fits (no new block)."""
        if '"' in url or '"' in content_type:
            raise ValueError("a quote cannot pass through AT+HTTPPARA")
        at = self.at
        self.on_air = False                            # whether the request may have left
        await at.cmd("AT+HTTPTERM", check=False)     # a stale session would answer 'busy'
        await at.cmd("AT+HTTPINIT", timeout_ms=10000)
        term = True
        try:
            await self._http_setup(timeout_ms)
            await at.cmd('AT+HTTPPARA="URL","%s"' % url)
            await at.cmd('AT+HTTPPARA="CONTENT","%s"' % content_type)
            send_ms = 5000 + len(body) * 2 // 10       # ~10 x the line time at 115200
            await at.cmd("AT+HTTPDATA=%d,%d" % (len(body), send_ms), timeout_ms=send_ms + 5000,
                         data=body)
            self.on_air = True
            try:
                r = await at.cmd("AT+HTTPACTION=1", urc="+HTTPACTION:", urc_ms=timeout_ms,
                                 aborts=self.HTTP_ABORTS)
            except AtTimeout:
                raise errors.HttpTimeout("no +HTTPACTION within %d s" % (timeout_ms // 1000))
            if r.aborted is not None:
                term = r.aborted not in ("off", "rebooted")    # its HTTP session died with it
                raise self._aborted(r.aborted)
            status, length = ap.httpaction(r.urc)
            if status is None:
                raise errors.HttpFailed("unreadable %r" % r.urc)
            if status >= 600:
                raise await self._http_error(status)
            resp = await self._http_read(length, into) if length else b""
            return status, resp
        finally:
            if term:
                await at.cmd("AT+HTTPTERM", timeout_ms=5000, check=False)

    def _aborted(self, why):
        if why == "rebooted":
            return errors.ModemReset("the modem rebooted during the request")
        if why == "off":
            return errors.ModemHung("the modem switched off during the request")
        if why == "memory":
            return errors.HttpFailed("no memory for the answer")
        if why == "sim":
            return errors.NoSim("the SIM went away during the request")
        return errors.PdpError("data session lost (%s)" % why)

    async def _http_error(self, code):
        if code in HTTP_DNS:
            return errors.DnsError("DNS lookup failed (%d)" % code, code)
        if code in HTTP_TIMEOUT:
            return errors.HttpTimeout("the server did not answer in time (%d)" % code, code)
        if code in HTTP_CONNECT or code in HTTP_NETWORK:
            # the same code covers "no data session" and "server unreachable": ask the bearer
            try:
                up = await self.data_up()
            except (AtError, AtTimeout):
                up = False
            if not up:
                return errors.PdpError("no data session (%d)" % code, code)
            return errors.ConnectError("cannot connect to the server (%d)" % code, code)
        if code in HTTP_BUSY:
            # a session the modem still holds: the next request starts with AT+HTTPTERM
            return errors.HttpFailed("the modem's HTTP stack is busy (%d)" % code, code)
        return errors.HttpFailed("modem HTTP error %d" % code, code)

    async def _http_read(self, length, into=None):
        raise NotImplementedError

    @staticmethod
    def _sink(length, into):
        # a long answer (a pushed configuration) in a buffer the caller has anyway: on a
        # fragmented heap a second block of that size may not be there
        if into is not None and len(into) >= length:
            return memoryview(into)[:length]
        return bytearray(length)

    # -- time --

    async def clock(self):
        """The modem's RTC as Unix seconds UTC (None if it has never been set)."""
        r = await self.at.cmd("AT+CCLK?", expect="+CCLK:", check=False)
        return ap.cclk(r.line()) if r.lines else None

    async def _ntp_setup(self, server):
        await self.at.cmd('AT+CNTP="%s",0' % server)

    async def ntp(self, server):
        """Set the modem's RTC by NTP over the data session; True on success."""
        await self._ntp_setup(server)
        r = await self.at.cmd("AT+CNTP", timeout_ms=5000, urc="+CNTP:", urc_ms=20000, check=False)
        return r.ok and r.urc is not None and ap.to_int(ap.fields(r.urc)[0]) == self.NTP_OK

# Field behaviours of SIMCom SIM7600 / SIM800 modules, fed to the AT engine and the model
# adapters by a scripted UART peer inside MicroPython.  The transcripts are small captures of
# what these modules print in the field (each says which behaviour it shows); expected values
# are written by hand.
import asyncio
import io

from meterlink.drivers.modem import engine as engmod
from meterlink.drivers.modem import errors
from meterlink.drivers.modem.engine import AtEngine
from meterlink.drivers.modem.errors import AtError
from meterlink.drivers.modem.sim7600 import Sim7600
from meterlink.drivers.modem.sim800 import Sim800
from meterlink.proto import atparse as ap

URL = "http://198.51.100.7/api/v1/ingest"


class Peer(io.IOBase):
    """The modem end of the UART.  `steps`: (command prefix, answer) in the order the firmware
    must send them; an answer is bytes, a list of (delay ms, bytes), or a dict
    {"answer": ..., "download": n, "then": ...} for a command whose data follows a prompt.
    A plain "AT" that is not scripted (a keep-alive) is answered OK."""

    def __init__(self, steps, echo=False, echo_end=b"\r"):
        self.steps = list(steps)
        self.echo = echo
        self.echo_end = echo_end       # SIM800 echoes "AT...\r" and then "\r\n" starts the answer
        self.rx = bytearray()          # what the firmware will read
        self.line = bytearray()
        self.sent = []                 # the command lines the firmware wrote
        self.keepalives = 0
        self.download = None           # [bytes still expected, got, answer after]
        self.bodies = []
        self.unexpected = []

    # -- the firmware's side of the stream --

    def read(self, n=-1):
        if not self.rx:
            return None
        if n is None or n < 0:
            n = len(self.rx)
        data = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return data

    def readinto(self, buf):
        data = self.read(len(buf))
        if data is None:
            return None
        buf[:len(data)] = data
        return len(data)

    def ioctl(self, req, arg):
        if req == 3:                   # MP_STREAM_POLL
            ev = 0
            if arg & 1 and self.rx:
                ev |= 1
            if arg & 4:
                ev |= 4
            return ev
        return 0

    def write(self, data):
        for b in bytes(data):
            dl = self.download
            if dl is not None:
                dl[1].append(b)
                if len(dl[1]) >= dl[0]:
                    self.download = None
                    self.bodies.append(bytes(dl[1]))
                    self._answer(dl[2])
                continue
            if b == 13:
                self._command(bytes(self.line))
                self.line = bytearray()
            elif b != 10:
                self.line.append(b)
        return len(data)

    # -- the modem's side --

    def say(self, data, delay_ms=0):
        if delay_ms <= 0:
            self.rx.extend(data)
        else:
            asyncio.create_task(self._later(delay_ms, data))

    async def _later(self, ms, data):
        await asyncio.sleep_ms(ms)
        self.rx.extend(data)

    def _answer(self, answer):
        if isinstance(answer, (bytes, bytearray)):
            self.say(answer)
            return
        t = 0
        for ms, data in answer:
            t += ms
            self.say(data, t)

    def _command(self, raw):
        text = raw.decode()
        if not text:
            return
        self.sent.append(text)
        if self.echo:
            self.say(raw + self.echo_end)
        if self.steps and text.startswith(self.steps[0][0]):
            _prefix, answer = self.steps.pop(0)
            if isinstance(answer, dict):
                self._answer(answer["answer"])
                if "download" in answer:
                    self.download = [answer["download"], bytearray(), answer["then"]]
                return
            self._answer(answer)
            return
        if text == "AT":
            self.keepalives += 1
            self.say(b"\r\nOK\r\n")
            return
        self.unexpected.append(text)
        self.say(b"\r\nERROR\r\n")


async def with_engine(peer, fn, urcs=()):
    """Run fn(engine) with the engine's reader on the peer; `urcs`: prefixes to record."""
    at = AtEngine(peer, "test")
    seen = []
    for prefix in urcs:
        at.on(prefix, seen.append)
    task = asyncio.create_task(at.reader())
    try:
        result = await fn(at)
    finally:
        task.cancel()
    return result, seen, at


OK = b"\r\nOK\r\n"


def post_steps(model, action_urc, body_len, extra=(), action_ms=20):
    """The AT dialogue of one adapter http_post up to the +HTTPACTION URC (after action_ms),
    then `extra`."""
    steps = [("AT+HTTPTERM", b"\r\nERROR\r\n"), ("AT+HTTPINIT", OK)]
    if model == "sim800":
        # an older firmware without the session TIMEOUT parameter: its ERROR changes nothing
        steps += [('AT+HTTPPARA="CID"', OK), ('AT+HTTPPARA="TIMEOUT"', b"\r\nERROR\r\n")]
    steps += [('AT+HTTPPARA="URL"', OK), ('AT+HTTPPARA="CONTENT"', OK),
              ("AT+HTTPDATA=%d," % body_len,
               {"answer": b"\r\nDOWNLOAD", "download": body_len, "then": OK}),
              ("AT+HTTPACTION=1", [(1, OK), (action_ms, b"\r\n" + action_urc + b"\r\n")])]
    steps += list(extra)
    steps.append(("AT+HTTPTERM", OK))
    return steps


def adapter(model, at):
    return Sim800(at) if model == "sim800" else Sim7600(at)


# -- echo, line ends, power-up junk --

async def test_echo_back_on_after_a_modem_reboot():
    # a restarted SIM7600 echoes again (ATE1 is its default) until ATE0; SIM800 echo ends "\r"
    for echo_end in (b"\r", b"\r\r\n"):
        peer = Peer([("AT+CSQ", b"\r\n+CSQ: 21,99\r\n\r\nOK\r\n"),
                     ("AT+CEREG?", b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
                     ("AT+CGREG?", b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n"),
                     ("AT+CREG?", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
                     ("AT+CPSI?", b"\r\n+CPSI: LTE,Online,262-01,0x4D07,200468759,468,"
                                  b"EUTRAN-BAND3,1300,5,5,-94,-850,-560,15\r\n\r\nOK\r\n")],
                    echo=True, echo_end=echo_end)

        async def go(at):
            a = Sim7600(at)
            return await a.signal(), await a.registration()
        (csq, reg), _seen, at = await with_engine(peer, go)
        assert csq == 21 and reg == (True, False, "4G"), (csq, reg)
        assert at.recent == [], at.recent        # the echoes were no unexplained lines


async def test_power_up_junk_and_bare_cr_lf_lines():
    # NUL / 0xFF bytes and a byte at a wrong rate glued to the first line at power-up, then
    # lines that are only "\r" or only "\n" between the answer lines
    peer = Peer([("AT+CSQ", b"\r\r\n\n\r\n+CSQ: 17,0\r\r\n\n\r\n\rOK\r\n")])
    peer.say(b"\x00\x00\xff\xff\xf8RDY\r\n\xff\r\n\x00\r\n+CPIN: READY\r\n")

    async def go(at):
        await asyncio.sleep_ms(20)
        return await Sim800(at).signal()
    csq, seen, at = await with_engine(peer, go, urcs=("RDY", "+CPIN:"))
    assert csq == 17
    assert seen == ["RDY", "+CPIN: READY"], seen
    assert at.recent == [], at.recent


async def test_probe_answered_after_junk_prefix():
    # the first answer after an autobauding SIM800 locks on: "\xffOK" reads as "OK"
    peer = Peer([("AT", b"\xfe\xff\r\n\xffOK\r\n")])
    ok, _seen, _at = await with_engine(peer, lambda at: at.probe(500))
    assert ok


async def test_autobaud_modem_answers_only_the_second_at():
    # a SIM800 measures the rate on the first "AT" and answers nothing to it
    peer = Peer([("AT", b""), ("AT", OK)])

    async def go(at):
        first = await at.probe(300)
        return first, await at.probe(300)
    (first, second), _seen, _at = await with_engine(peer, go)
    assert (first, second) == (False, True)


# -- URCs inside answers --

async def test_urcs_inside_an_answer_go_to_the_urc_table():
    peer = Peer([("AT+COPS?", b"\r\n+CGEV: NW PDN DEACT 2\r\n\r\n+COPS: 0,0,\"Op\",7\r\n"
                              b"\r\n+CPIN: NOT READY\r\n\r\nUNDER-VOLTAGE WARNNING\r\n\r\nOK\r\n")])
    op, seen, at = await with_engine(peer, lambda at: Sim7600(at).operator(),
                                     urcs=("+CGEV:", "+CPIN:", "UNDER-VOLTAGE WARN"))
    assert op == ("Op", "4G")
    assert seen == ["+CGEV: NW PDN DEACT 2", "+CPIN: NOT READY", "UNDER-VOLTAGE WARNNING"]


async def test_urc_is_never_the_model_name():
    # AT+CGMM has a bare answer: lines that are known URCs are not it
    peer = Peer([("ATE0", OK), ("AT+CMEE=2", OK), ("AT+CREG=1", OK), ("AT+CGREG=1", OK),
                 ("AT+CGMM", b"\r\n*ATREADY: 1\r\n\r\nUNDER-VOLTAGE WARNNING\r\n\r\nCall Ready\r\n"
                             b"\r\nSIMCOM_SIM800L\r\n\r\nOK\r\n"),
                 ("AT+CLTS=1", OK)])
    name, seen, _at = await with_engine(peer, lambda at: Sim800(at).init(),
                                        urcs=("UNDER-VOLTAGE WARN",))
    assert name == "SIMCOM_SIM800L", name
    assert seen == ["UNDER-VOLTAGE WARNNING"]


# -- SIM states --

async def test_sim_states_numeric_verbose_and_plain():
    cases = [(b"\r\n+CME ERROR: 10\r\n", "absent"),                 # AT+CMEE=1
             (b"\r\n+CME ERROR: SIM not inserted\r\n", "absent"),   # AT+CMEE=2
             (b"\r\nERROR\r\n", "unknown"),                         # AT+CMEE=0 (after a reboot)
             (b"\r\n+CME ERROR: 14\r\n", "busy"),
             (b"\r\n+CME ERROR: SIM busy\r\n", "busy"),
             (b"\r\n+CME ERROR: 13\r\n", "failure"),
             (b"\r\n+CPIN: NOT READY\r\n\r\nOK\r\n", "not_ready"),
             (b"\r\n+CPIN:READY\r\n\r\nOK\r\n", "ready"),           # no space after the colon
             (b"\r\n+CPIN: SIM REMOVED\r\n\r\nOK\r\n", "absent"),
             (b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n", "pin")]
    for answer, want in cases:
        peer = Peer([("AT+CPIN?", answer)])
        st, _seen, _at = await with_engine(peer, lambda at: Sim7600(at).sim_state())
        assert st == want, (answer, st)


def test_sim_lines_parsed():
    assert ap.cpin("+SIMCARD: NOT AVAILABLE") == "absent"
    assert ap.cpin("+CPIN: SIM CRASH") == "failure"
    assert ap.cpin("+CPIN: NOT INSERTED") == "absent"
    assert ap.cpin("+CME ERROR: 15") == "failure"


async def test_csq_unknown_while_searching():
    peer = Peer([("AT+CSQ", b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n")])
    csq, _seen, _at = await with_engine(peer, lambda at: Sim7600(at).signal())
    assert csq is None


def test_cgev_contexts():
    assert ap.cgev_cid("+CGEV: NW PDN DEACT 1") == 1
    assert ap.cgev_cid("+CGEV: ME PDN DEACT 2,0") == 2
    assert ap.cgev_cid('+CGEV: NW DEACT "IP","10.1.2.3",1') == 1
    assert ap.cgev_cid("+CGEV: NW DEACT 1,3,0") == 3
    assert ap.cgev_cid("+CGEV: NW DETACH") is None
    assert ap.cgev_cid("+CGEV: ME DETACH") is None


# -- HTTPREAD answer forms --

async def read_7600(answer, length):
    peer = Peer([("AT+HTTPREAD=0,%d" % length, answer)])
    body, seen, _at = await with_engine(peer, lambda at: Sim7600(at)._http_read(length),
                                        urcs=("+CMTI:",))
    return bytes(body), seen


async def test_sim7600_httpread_forms():
    body = b"ab\r\nOK\r\n\xff"                                     # 9 bytes
    # OK first, then DATA blocks, end mark with a space (the manual)
    got = await read_7600([(2, OK), (5, b"\r\n+HTTPREAD: DATA,5\r\n" + body[:5]),
                           (5, b"\r\n+CMTI: \"SM\",3\r\n"),          # a URC between the blocks
                           (5, b"\r\n+HTTPREAD: DATA,4\r\n" + body[5:] + b"\r\n+HTTPREAD: 0\r\n")], 9)
    assert got == (body, ['+CMTI: "SM",3']), got
    # end mark without the space, as LE20B04SIM7600G22-era firmwares print it
    got = await read_7600([(2, OK), (5, b"\r\n+HTTPREAD: DATA,9\r\n" + body + b"\r\n+HTTPREAD:0\r\n")], 9)
    assert got[0] == body
    # blocks as "+HTTPREAD: <n>" (A76xx-style firmware) and "+HTTPREAD:DATA,<n>"
    got = await read_7600([(2, OK), (5, b"\r\n+HTTPREAD: 4\r\n" + body[:4]),
                           (5, b"\r\n+HTTPREAD:DATA,5\r\n" + body[4:] + b"\r\n+HTTPREAD:0\r\n")], 9)
    assert got[0] == body
    # the blocks before the OK
    got = await read_7600([(2, b"\r\n+HTTPREAD: DATA,9\r\n" + body + b"\r\n+HTTPREAD: 0\r\n"),
                           (3, OK)], 9)
    assert got[0] == body


async def test_sim800_httpread():
    body = b"\r\nOK\r\n+HTTPREAD: 0"
    peer = Peer([("AT+HTTPREAD", [(5, b"\r\n+HTTPREAD: %d\r\n" % len(body) + body + b"\r\nOK\r\n")])])
    got, _seen, _at = await with_engine(peer, lambda at: Sim800(at)._http_read(len(body)))
    assert bytes(got) == body


# -- HTTPACTION results --

async def post(model, action_urc, extra=(), timeout_ms=5000, peer_kw=None):
    body = b"0123456789"
    peer = Peer(post_steps(model, action_urc, len(body), extra), **(peer_kw or {}))

    async def go(at):
        try:
            return await adapter(model, at).http_post(URL, body, "application/octet-stream",
                                                      timeout_ms)
        except (errors.ModemError, AtError) as e:
            return e
    r, _seen, _at = await with_engine(peer, go)
    assert peer.bodies == [body] and not peer.steps and not peer.unexpected, \
        (peer.steps, peer.unexpected)
    return r


NETOPEN_UP = ("AT+NETOPEN?", b"\r\n+NETOPEN: 1\r\n\r\nOK\r\n")
NETOPEN_DOWN = ("AT+NETOPEN?", b"\r\n+NETOPEN: 0\r\n\r\nOK\r\n")
SAPBR_UP = ("AT+SAPBR=2,1", b"\r\n+SAPBR: 1,1,\"10.86.233.134\"\r\n\r\nOK\r\n")
SAPBR_DOWN = ("AT+SAPBR=2,1", b"\r\n+SAPBR: 1,3,\"0.0.0.0\"\r\n\r\nOK\r\n")


async def test_httpaction_module_codes():
    cases = [
        ("sim800", b"+HTTPACTION: 1,601,0", [SAPBR_DOWN], "pdp"),      # network error, no bearer
        ("sim800", b"+HTTPACTION: 1,601,0", [SAPBR_UP], "connect"),    # bearer up: the server
        ("sim800", b"+HTTPACTION: 1,603,0", [], "dns"),
        ("sim800", b"+HTTPACTION:1,604,0", [], "http"),                # stack busy (no space)
        ("sim7600", b"+HTTPACTION: 1,706,0", [NETOPEN_UP], "connect"),
        ("sim7600", b"+HTTPACTION: 1,713,0", [], "dns"),
        ("sim7600", b"+HTTPACTION: 1,714,0", [NETOPEN_DOWN], "pdp"),
        ("sim7600", b"+HTTPACTION: 1,715,0", [NETOPEN_UP], "connect"),  # TLS handshake
        ("sim7600", b"+HTTPACTION: 1,705,0", [], "http_timeout"),
        ("sim7600", b"+HTTPACTION: 1,703,0", [], "http"),
    ]
    for model, urc, extra, reason in cases:
        r = await post(model, urc, extra)
        assert isinstance(r, errors.ModemError) and r.reason == reason, (urc, r)
        if reason == "http":
            assert "busy" in str(r), r


async def test_long_httpaction_keeps_checking_the_modem():
    # +HTTPACTION on GPRS can take more than a minute: the engine's keep-alive ATs (here every
    # 30 ms instead of 20 s) are answered meanwhile, echo included, and the URC still counts
    old = engmod.KEEPALIVE_MS
    engmod.KEEPALIVE_MS = 30
    try:
        body = b"0123456789"
        steps = post_steps("sim800", b"+HTTPACTION: 1,200,2", len(body),
                           [("AT+HTTPREAD", b"\r\n+HTTPREAD: 2\r\nok\r\nOK\r\n")], action_ms=200)
        peer = Peer(steps, echo=True, echo_end=b"\r\r\n")
        r, _seen, _at = await with_engine(peer, lambda at: Sim800(at).http_post(
            URL, body, "application/octet-stream", 5000))
    finally:
        engmod.KEEPALIVE_MS = old
    assert r[0] == 200 and bytes(r[1]) == b"ok", r
    assert peer.keepalives >= 3, peer.keepalives


async def test_error_after_download_does_not_answer_the_next_command():
    # the DOWNLOAD window closed before the body was in: the modem answers a bare ERROR, and
    # what arrives after it is read as a command line, answered with one more ERROR
    body = b"0123456789"
    steps = [("AT+HTTPTERM", OK), ("AT+HTTPINIT", OK), ('AT+HTTPPARA="URL"', OK),
             ('AT+HTTPPARA="CONTENT"', OK),
             ("AT+HTTPDATA=10,", {"answer": b"\r\nDOWNLOAD", "download": 10,
                                  "then": [(1, b"\r\nERROR\r\n"), (5, b"\r\nERROR\r\n")]}),
             ("AT+HTTPTERM", [(20, OK)]),
             ("AT+CSQ", [(20, b"\r\n+CSQ: 19,99\r\n\r\nOK\r\n")])]
    peer = Peer(steps)

    async def go(at):
        a = Sim7600(at)
        try:
            await a.http_post(URL, body, "application/octet-stream", 5000)
            err = None
        except AtError as e:
            err = e
        return err, await a.signal()
    (err, csq), _seen, _at = await with_engine(peer, go)
    assert err is not None and err.command.startswith("AT+HTTPDATA"), err
    assert csq == 19, csq
    assert not peer.steps and not peer.unexpected

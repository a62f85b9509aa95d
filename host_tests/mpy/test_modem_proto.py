# The modem's pure parts inside MicroPython: the AT tokeniser, the answer parsers and the
# data-usage estimate.  Expected values are worked out by hand in the comments.
import os

from meterlink.proto import at
from meterlink.proto import atparse as ap
from meterlink.services import datausage


def tokens(chunks, prompts=False, sink=None):
    tok = at.Tokenizer()
    tok.prompts = prompts
    if sink is not None:
        tok.set_sink(sink)
    out = []
    for c in chunks:
        tok.feed(c, lambda kind, payload: out.append((kind, bytes(payload))))
    return out, tok


def bytewise(data):
    return [data[i:i + 1] for i in range(len(data))]


def test_lines_echo_and_empty_lines():
    data = b"AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    for chunks in ([data], bytewise(data), [data[:5], data[5:17], data[17:]]):
        out, _ = tokens(chunks)
        assert out == [(at.LINE, b"AT+CSQ"), (at.LINE, b"+CSQ: 20,99"), (at.LINE, b"OK")], out


def test_sim7600_httpread_blocks_keep_crlf_and_ff():
    body = b"\r\nOK\r\n\xff\x00"          # 8 bytes that look like a final result
    data = (b"\r\nOK\r\n\r\n+HTTPREAD: DATA,8\r\n" + body + b"\r\n+HTTPREAD: DATA,3\r\nERR"
            + b"\r\n+HTTPREAD: 0\r\n")
    want = [(at.LINE, b"OK"), (at.LINE, b"+HTTPREAD: DATA,8"), (at.DATA, body),
            (at.LINE, b"+HTTPREAD: DATA,3"), (at.DATA, b"ERR"), (at.LINE, b"+HTTPREAD: 0")]
    assert tokens([data])[0] == want
    assert tokens(bytewise(data))[0] == want


def test_sim800_httpread_and_len_query():
    out, _ = tokens([b"\r\n+HTTPREAD: 5\r\n\n\r\xffOK\r\nOK\r\n"])
    assert out == [(at.LINE, b"+HTTPREAD: 5"), (at.DATA, b"\n\r\xffOK"), (at.LINE, b"OK")]
    out, _ = tokens([b"\r\n+HTTPREAD: LEN,20\r\nOK\r\n"])      # a length, no payload follows
    assert out == [(at.LINE, b"+HTTPREAD: LEN,20"), (at.LINE, b"OK")]


def test_payloads_go_into_the_sink():
    sink = bytearray(11)
    out, tok = tokens([b"+HTTPREAD: DATA,6\r\nabc\r\nd\r\n+HTTPREAD: DATA,5\r\nefghi\r\n"], sink=sink)
    assert sink == bytearray(b"abc\r\ndefghi") and tok.sink_used == 11
    assert [p for k, p in out if k == at.DATA] == [b"abc\r\nd", b"efghi"]
    small = bytearray(2)                                         # too small: a buffer of its own
    out, _ = tokens([b"+HTTPREAD: 4\r\nwxyz\r\n"], sink=small)
    assert out[1] == (at.DATA, b"wxyz") and small == bytearray(2)


def test_prompts_without_line_end():
    assert tokens([b"\r\n> "], prompts=True)[0] == [(at.PROMPT, b"> ")]
    assert tokens([b"\r\n>", b" "], prompts=True)[0] == [(at.PROMPT, b"> ")]
    assert tokens([b"\r\nDOWNLOAD"], prompts=True)[0] == [(at.PROMPT, b"DOWNLOAD")]
    assert tokens([b"\r\nDOWNLOAD\r\n"], prompts=True)[0] == [(at.PROMPT, b"DOWNLOAD")]
    assert tokens([b"\r\n> "])[0] == []                          # not expected: no prompt
    assert tokens([b"\r\nDOWNLOAD\r\n"])[0] == [(at.LINE, b"DOWNLOAD")]


def test_overlong_line_is_cut_and_counted():
    out, tok = tokens([b"x" * 1500, b"\r\nOK\r\n"])
    assert tok.overflows == 1 and out[-1] == (at.LINE, b"OK") and len(out[0][1]) >= 1024


def test_text_finals_and_cme():
    assert at.text(b"+COPS: 0,0,\"\xff\"") == '+COPS: 0,0,"?"'
    assert [at.final_kind(x) for x in ("OK", "ERROR", "+CME ERROR: 10", "+CMS ERROR: 500",
                                       "NO CARRIER", "+CSQ: 1,2")] == ["ok", "error", "error",
                                                                       "error", "error", None]
    assert at.cme("+CME ERROR: 10") == (10, "10")
    assert at.cme("+CME ERROR: SIM not inserted") == (None, "SIM not inserted")


def test_fields_and_registration():
    assert ap.fields('+X: 1,"a,b", 3') == ["1", "a,b", "3"]
    assert ap.reg_query_stat("+CREG: 1,5") == 5
    assert ap.reg_query_stat("+CREG: 1") is None and ap.reg_urc_stat("+CREG: 1") == 1
    assert ap.reg_query_stat('+CEREG: 2,1,"00C3","0F21",7') == 1
    assert ap.is_registered(1) and ap.is_registered(5)
    assert not ap.is_registered(2) and not ap.is_registered(3) and not ap.is_registered(None)


def test_signal_operator_and_cell():
    assert ap.csq("+CSQ: 99,99") is None and ap.csq("+CSQ: 20,99") == 20
    assert ap.rssi_dbm(20) == -73 and ap.rssi_dbm(0) == -113 and ap.rssi_dbm(None) is None
    assert ap.cops('+COPS: 0,0,"JIO 4G Jio",7') == ("JIO 4G Jio", "4G")
    assert ap.cops('+COPS: 0,0,"Op",0') == ("Op", "2G") and ap.cops("+COPS: 0") == (None, None)
    assert ap.cpsi("+CPSI: LTE,Online,250-20,0x4D07,200468759,468,EUTRAN-BAND7,3400,3,3,-69,-900,"
                   "-661,20") == ("4G", "250-20")
    assert ap.cpsi("+CPSI: GSM,Online,460-00,0x182d,12401,27 EGSM 900,-64,2110,42-42") == ("2G", "460-00")
    assert ap.cpsi("+CPSI: NO SERVICE,Online") == (None, None)


def test_sim_states():
    cases = {"+CPIN: READY": "ready", "+CPIN: SIM PIN": "pin", "+CPIN: SIM PUK": "puk",
             "+CPIN: PH-NET PIN": "locked", "+CPIN: NOT INSERTED": "absent",
             "+CPIN: NOT READY": "not_ready", "+CME ERROR: 10": "absent",
             "+CME ERROR: SIM not inserted": "absent", "+CME ERROR: SIM busy": "busy",
             "+CME ERROR: 13": "failure", "+CME ERROR: SIM PIN required": "pin"}
    for line, want in cases.items():
        assert ap.cpin(line) == want, line


def test_clock_answers_to_utc():
    # 2024-01-01T00:00:00Z = 1704067200; local 2024-01-02 12:34:56 at UTC+1 (+04 quarters)
    # is 11:34:56Z: 1704067200 + 86400 + 41696
    assert ap.cclk('+CCLK: "24/01/02,12:34:56+04"') == 1704195296
    assert ap.cclk('+CCLK: "24/01/02,12:34:56-08"') == 1704153600 + 14 * 3600 + 34 * 60 + 56
    # an unset SIM7600 clock: 1980-01-06 (the GPS epoch, 315964800)
    assert ap.cclk('+CCLK: "80/01/06,00:00:05+00"') == 315964805
    assert ap.cclk('+CCLK: "24/13/02,12:34:56+00"') is None and ap.cclk("+CCLK: x") is None
    assert ap.days_from_civil(1970, 1, 1) == 0 and ap.days_from_civil(2000, 3, 1) == 11017


def test_http_helpers():
    assert ap.httpaction("+HTTPACTION: 1,200,13") == (200, 13)
    assert ap.httpaction("+HTTPACTION: 1,714,0") == (714, 0)
    assert ap.split_url("http://c.example:8080/a/b?x=1") == ("http", "c.example", 8080, "/a/b?x=1")
    assert ap.split_url("http://10.0.0.1") == ("http", "10.0.0.1", None, "/")
    assert ap.is_ip("10.0.0.1") and not ap.is_ip("c.example") and not ap.is_ip("1.2.3.999")


def test_usage_estimate_by_hand():
    # request: "POST /i HTTP/1.1\r\n" 18 + "Host: 10.0.0.1\r\n" 16
    #   + "Content-Type: application/octet-stream\r\n" 40 + "Content-Length: 100\r\n" 21
    #   + modem headers 64 + "\r\n" 2 + body 100 = 261
    # up: SYN 60 + ACK 40 + 261 + 40 + ACK of the answer 40 + FIN/ACK 80 = 521
    # down: SYN-ACK 60 + ACK 40 + (150 headers + 12) + 40 + FIN/ACK 80 = 382
    args = ("10.0.0.1", "/i", "application/octet-stream", 100, 12)
    assert datausage.estimate(*(args + ("ok", 64, True))) == (521, 382)
    # a name: one DNS query of 40 + 21 + 2 + 4 = 67 up and its answer, 83, down
    q = 40 + len("collector.example.net") + 2 + 4
    assert datausage.dns_bytes("collector.example.net") == (q, q + 16)
    host = ("collector.example.net", "/i", "application/octet-stream", 100, 12)
    assert datausage.estimate(*(host + ("dns", 64, False))) == (2 * q, 0)
    assert datausage.estimate(*(host + ("connect", 64, False))) == (q + 3 * 60, q + 16)
    # 3000 bytes of body: 3 segments of at most 1400 up, ACKed every other (2 ACKs)
    up, down = datausage.estimate("10.0.0.1", "/i", "application/octet-stream", 3000, 12, "ok",
                                  64, True)
    assert (up, down) == (60 + 40 + 3162 + 3 * 40 + 40 + 80, 60 + 2 * 40 + 162 + 40 + 80)


class FakeClock:
    def __init__(self, t):
        self.t = t

    def valid(self):
        return self.t is not None

    def now(self):
        return self.t

    @staticmethod
    def iso(t):
        from meterlink.services.clock import Clock
        return Clock.iso(t)


def test_usage_counts_per_month_and_survives_a_restart():
    path = "/tmp/meterlink-usage-test.json"
    try:
        os.remove(path)
    except OSError:
        pass
    clock = FakeClock(None)
    u = datausage.DataUsage(clock, path)
    u.add(100, 50)                               # before the clock is set: month unknown
    assert u.report() == {"month": "unknown", "up": 100, "down": 50}
    clock.t = 1769903940                         # 2026-01-31T23:59:00Z
    u.add(10, 5)
    assert u.report() == {"month": "2026-01", "up": 110, "down": 55}
    u.save()
    again = datausage.DataUsage(clock, path)     # after a restart
    assert again.report() == {"month": "2026-01", "up": 110, "down": 55}
    clock.t += 120                               # 2026-02-01T00:01:00Z: a new month
    again.add(7, 3)
    assert again.report() == {"month": "2026-02", "up": 7, "down": 3}
    os.remove(path)

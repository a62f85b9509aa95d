"""The simulated modem's HTTP service (HTTPINIT, HTTPPARA, HTTPDATA, HTTPACTION, HTTPREAD,
HTTPTERM), shared by both dialects; each dialect gives its result codes and read format."""
from urllib.parse import urlsplit

from .modem_net import LINKS, airtime

CONNECT_FAIL_S = 7.5          # SYN, retransmitted after 1.5 s and 3 s more, then given up
DNS_FAIL_S = 4.0
RESP_TIMEOUT_S = 30.0         # SIM7600: the HTTP stack's own response timeout (705)
READ_BLOCK = 1024             # SIM7600 HTTPREAD hands out the body in blocks of this size
PROXY_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
METHODS = {0: "GET", 1: "POST", 2: "HEAD", 3: "DELETE"}


class HttpService:
    def __init__(self, modem, dialect):
        self.m = modem
        self.d = dialect
        self.actions = 0
        self.reset()

    def reset(self):
        self.init = False
        self.params = {}
        self.body = b""
        self.resp = None
        self.busy = False
        self.gen = 0

    def commands(self):
        return {"+HTTPINIT": self.cmd_init, "+HTTPTERM": self.cmd_term, "+HTTPPARA": self.cmd_para,
                "+HTTPDATA": self.cmd_data, "+HTTPACTION": self.cmd_action}

    def cmd_init(self, op, args):
        if self.init:
            return self.m.reply((), "ERROR")
        self.reset()
        self.init = True
        self.m.reply(delay_s=0.05)

    def cmd_term(self, op, args):
        if not self.init:
            return self.m.reply((), "ERROR")
        gen = self.gen
        self.reset()
        self.gen = gen + 1           # an HTTPACTION still under way never reports
        self.m.reply(delay_s=0.03)

    def cmd_para(self, op, args):
        if not self.init or op != "=" or len(args) < 2:
            return self.m.reply((), "ERROR")
        self.params[args[0].upper()] = args[1]
        self.m.reply()

    def cmd_data(self, op, args):
        m = self.m
        try:
            n, ms = int(args[0]), int(args[1])
        except (ValueError, IndexError):
            return m.reply((), "ERROR")
        if not self.init or not 0 < n <= self.d.HTTPDATA_MAX:
            return m.reply((), "ERROR")
        m.out(self.d.DOWNLOAD, self.d.CMD_DELAY_S)

        def done(body):
            self.body = body
            m.reply()
        m.expect_download(n, ms / 1000 + self.d.CMD_DELAY_S, done)

    # -- the request --

    def _trigger(self):
        sw = self.m.sw
        for name in ("brownout_on_action", "hang_on_action", "pdp_drop_on_action"):
            if sw[name]:
                sw[name] -= 1
                if sw[name] == 0:
                    return name.split("_on_")[0]
        return None

    def cmd_action(self, op, args):
        m, d = self.m, self.d
        if op != "=" or not self.init or "URL" not in self.params or self.busy:
            return m.reply((), "ERROR")
        try:
            method = int(args[0])
        except (ValueError, IndexError):
            return m.reply((), "ERROR")
        m.reply()
        self.actions += 1
        self.busy = True
        self.resp = None
        self.gen += 1
        gen = self.gen
        url = self.params["URL"]
        parts = urlsplit(url if "://" in url else "http://" + url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        body = self.body if method == 1 else b""
        headers = d.http_headers(parts.netloc, self.params.get("CONTENT"), len(body), method)
        req_len = (len("%s %s HTTP/1.1\r\n" % (METHODS.get(method, "GET"), parts.path or "/"))
                   + sum(len(k) + len(v) + 4 for k, v in headers) + 2 + len(body))
        bill = m.billing
        now = m.now()
        trigger = self._trigger()
        codes = d.HTTP_CODES
        m.event("httpaction", "%s %s %d B%s" % (METHODS.get(method), url, len(body),
                                                " (%s)" % trigger if trigger else ""))
        if not m.pdp or not d.registered():
            return m.later(0.5, self._finish, gen, method, codes["nonet"], b"")
        t = airtime(m.rat, req_len, 300, host)
        if trigger in ("brownout", "hang") or (trigger == "pdp_drop" and not m.sw["pdp_drop_after_server"]):
            bill.add(now, "http cut short", *bill.exchange(host, req_len, 0, https, answered=False))
            if trigger == "brownout":
                return m.later(t / 2, m.brownout)
            if trigger == "hang":
                return m.later(t / 2, m.hang)
            return m.later(t / 2, self._drop, gen, method)
        if m.sw["dns_fail"] or not m.resolves(host):
            bill.add(now, "dns failed", *bill.dns(host, answered=False, tries=2))
            return m.later(DNS_FAIL_S, self._finish, gen, method, codes["dns"], b"")
        if https and codes.get("tls_unsupported"):
            bill.add(now, "tls refused", *bill.exchange(host, 250, 0, answered=False))
            return m.later(t, self._finish, gen, method, codes["tls_unsupported"], b"")
        if m.sw["server_unreachable"]:
            bill.add(now, "no connection", *bill.refused(host))
            return m.later(CONNECT_FAIL_S, self._finish, gen, method, codes["connect"], b"")
        if m.sw["force_status"]:
            resp_len = 120 + len(PROXY_BODY)
            bill.add(now, "proxy %d" % m.sw["force_status"], *bill.exchange(host, req_len, resp_len, https))
            return m.later(t, self._finish, gen, method, int(m.sw["force_status"]), PROXY_BODY)
        if m.sw["http_timeout"]:
            bill.add(now, "no answer", *bill.exchange(host, req_len, 0, https, answered=False))
            if codes.get("timeout"):
                m.later(RESP_TIMEOUT_S, self._finish, gen, method, codes["timeout"], b"")
            return None
        m.later(t, self._request, gen, method, METHODS.get(method, "GET"), url, headers, body, host,
                https, trigger)

    def _request(self, gen, method, verb, url, headers, body, host, https, trigger):
        m, codes = self.m, self.d.HTTP_CODES
        if gen != self.gen:
            return
        status, code, resp_len, data, sent = m.http.request(verb, url, headers, body)
        now = m.now()
        if status == "refused":
            m.billing.add(now, "no connection", *m.billing.refused(host))
            return self._finish(gen, method, codes["connect"], b"")
        if status == "timeout":
            m.billing.add(now, "no answer", *m.billing.exchange(host, sent, 0, https, answered=False))
            return self._finish(gen, method, codes.get("timeout") or codes["connect"], b"")
        m.billing.add(now, "%s %d" % (verb, code), *m.billing.exchange(host, sent, resp_len, https))
        m.event("http", "%d, %d B" % (code, len(data)))
        if trigger == "pdp_drop":
            return self._drop(gen, method)     # the server has it, the answer is lost
        rtt, _up, down_bps = LINKS.get(m.rat, LINKS["GSM"])
        m.later(rtt / 2 + resp_len * 8 / down_bps, self._finish, gen, method, code, data)

    def _drop(self, gen, method):
        if gen != self.gen:
            return
        self.m.event("pdp_drop", "during HTTPACTION")
        self.d.pdp_drop(during_http=True)
        self.m.later(0.3, self._finish, gen, method, self.d.HTTP_CODES["nonet"], b"")

    def _finish(self, gen, method, status, data):
        if gen != self.gen:
            return
        self.busy = False
        self.resp = data if status < 600 else None
        self.m.urc("+HTTPACTION: %d,%d,%d" % (method, status, len(data) if status < 600 else 0))

    # -- reading the answer --

    def cmd_read_7600(self, op, args):
        m = self.m
        if not self.init or self.resp is None:
            return m.reply((), "ERROR")
        if op == "?":
            return m.reply(["+HTTPREAD: LEN,%d" % len(self.resp)])
        try:
            start, size = int(args[0]), int(args[1])
        except (ValueError, IndexError):
            return m.reply((), "ERROR")
        part = self.resp[start:start + size]
        m.reply()
        out = bytearray()
        for i in range(0, len(part), READ_BLOCK):
            block = part[i:i + READ_BLOCK]
            out += b"\r\n+HTTPREAD: DATA,%d\r\n" % len(block) + block
            out += m.noise()
        out += b"\r\n+HTTPREAD:0\r\n" if m.sw["httpread_nospace"] else b"\r\n+HTTPREAD: 0\r\n"
        m.out(bytes(out), self.d.CMD_DELAY_S + 0.02)

    def cmd_read_800(self, op, args):
        m = self.m
        if not self.init or self.resp is None:
            return m.reply((), "ERROR")
        part = self.resp
        if op == "=":
            try:
                start, size = int(args[0]), int(args[1])
            except (ValueError, IndexError):
                return m.reply((), "ERROR")
            part = self.resp[start:start + size]
        out = m.noise() + b"\r\n+HTTPREAD: %d\r\n" % len(part) + part + b"\r\nOK\r\n"
        m.out(out, self.d.CMD_DELAY_S + 0.02)

"""Cellular data usage per calendar month (UTC), as the network bills it: every request's
payload and headers plus an estimate of what TCP/IP adds.  Kept in a small JSON file that is
written rarely (flash wear); docs/modem.md describes the model."""
import json
import os
import time

from meterlink.services import log

FILE = "usage.json"
SAVE_BYTES = 16384          # write when this much is unsaved...
SAVE_MS = 3600000           # ...or an hour after the last write

IP_TCP = 40                 # IPv4 + TCP header of a segment (no options)
SYN = 60                    # SYN and SYN-ACK carry options (MSS, SACK, window scale)
MSS = 1400                  # mobile networks clamp the segment size about here
UDP_DNS = 20 + 8 + 12       # IPv4 + UDP + DNS header
RESPONSE_HEADERS = 150      # a collector's status line and headers (the modem shows no headers)
SYN_TRIES = 3               # a connect that fails sends the SYN this often
NTP = 20 + 8 + 48           # IPv4 + UDP + NTP packet, each way


def _segments(n):
    return max(1, (n + MSS - 1) // MSS)


def dns_bytes(host):
    """(up, down) of one A lookup: query, and the answer that repeats it plus one record."""
    q = UDP_DNS + len(host) + 2 + 4
    return q, q + 16


def estimate(host, path, content_type, body_len, resp_len, outcome, modem_headers, host_is_ip):
    """(up, down) bytes for one HTTP POST.

    outcome: "ok" (an answer came), "sent" (the request went out, no answer: timeout or the
    session dropped), "connect" (the server never accepted the connection), "dns" (the name
    did not resolve).  modem_headers: bytes of the headers the modem's HTTP stack adds.
    """
    up = down = 0
    if not host_is_ip:
        q, a = dns_bytes(host)
        if outcome == "dns":
            return 2 * q, 0                     # the query and one retry, no answer
        up += q
        down += a
    if outcome == "connect":
        return up + SYN_TRIES * SYN, down
    up += SYN + IP_TCP                          # SYN, then the ACK of SYN-ACK
    down += SYN
    request = (len("POST  HTTP/1.1\r\n") + len(path) + len("Host: \r\n") + len(host)
               + len("Content-Type: \r\n") + len(content_type)
               + len("Content-Length: \r\n") + len(str(body_len)) + modem_headers + 2 + body_len)
    seg_up = _segments(request)
    up += request + seg_up * IP_TCP
    down += (seg_up + 1) // 2 * IP_TCP          # the server ACKs every other segment
    if outcome == "ok":
        response = RESPONSE_HEADERS + resp_len
        seg_down = _segments(response)
        down += response + seg_down * IP_TCP
        up += (seg_down + 1) // 2 * IP_TCP
    up += 2 * IP_TCP                            # FIN and ACK each way
    down += 2 * IP_TCP
    return up, down


class DataUsage:
    def __init__(self, clock, path=FILE):
        self._clock = clock
        self.path = path
        self.month = None
        self.up = 0
        self.down = 0
        self._unsaved = 0
        self._saved_ms = time.ticks_ms()
        self._load()

    def _load(self):
        try:
            with open(self.path) as f:
                d = json.load(f)
            self.month = d.get("month")
            self.up = int(d.get("up", 0))
            self.down = int(d.get("down", 0))
        except (OSError, ValueError, AttributeError, TypeError):
            pass   # none yet, or unreadable: start counting from zero

    def _month_now(self):
        if not self._clock.valid():
            return None
        return self._clock.iso(self._clock.now())[:7]

    def _roll(self):
        m = self._month_now()
        if m is None or m == self.month:
            return
        if self.month is not None:
            log.info("modem", "data usage %s: %d B up, %d B down" % (self.month, self.up, self.down))
            self.up = self.down = 0
        self.month = m
        self._unsaved += 1

    def add(self, up, down):
        self._roll()
        self.up += up
        self.down += down
        self._unsaved += up + down
        if self._unsaved >= SAVE_BYTES or (
                self._unsaved and time.ticks_diff(time.ticks_ms(), self._saved_ms) >= SAVE_MS):
            self.save()

    def save(self):
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump({"month": self.month, "up": self.up, "down": self.down}, f)
            os.rename(tmp, self.path)
            self._unsaved = 0
            self._saved_ms = time.ticks_ms()
        except OSError as e:
            log.warn("modem", "cannot save data usage: %r" % e)

    def report(self):
        self._roll()
        return {"month": self.month or "unknown", "up": self.up, "down": self.down}

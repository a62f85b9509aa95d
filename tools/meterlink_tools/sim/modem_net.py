"""The simulated modem's network side: real HTTP requests to a configurable server, the time
they would take over the air, and the bytes a network bills for them."""
# Billing model (IPv4; what the operator counts inside its tunnel):
# - every packet carries 52 B of headers (IPv4 20 + TCP 20 + timestamps option 12); SYN and
#   SYN-ACK carry 60 (MSS, SACK-permitted, window scale, timestamps);
# - payload is cut into segments of MSS 1378 B (1430 B MTU on many mobile networks);
# - the receiver ACKs every second segment (at least one ACK per flight);
# - connection set-up: SYN up, SYN-ACK down, ACK up; close: FIN+ACK each way (2 packets each);
# - a DNS lookup (modem stacks resolve on every request): IPv4 20 + UDP 8 + DNS 12 + name
#   (len + 2) + 4 + EDNS0 11 up, the same plus a 16 B answer down;
# - a connection nobody accepts: the SYN and two retransmissions, nothing down;
# - HTTPS (SIM7600 only) adds a TLS 1.2 full handshake with an RSA-2048 chain (about 0.4 kB up,
#   3.6 kB down) and 29 B per TLS record;
# - NTP: DNS, then IPv4 + UDP + 48 B each way.
import http.client
import socket
from urllib.parse import urlsplit

HDR = 52
SYN = 60
MSS = 1378
DNS_Q = 20 + 8 + 12 + 4 + 11
DNS_ANSWER = 16
TLS_UP, TLS_DOWN, TLS_RECORD = 420, 3600, 29
NTP = 20 + 8 + 48

# air-interface figures: round trip (s), uplink and downlink rate (bit/s)
LINKS = {"LTE": (0.06, 2_000_000, 10_000_000), "GSM": (0.6, 24_000, 48_000)}


def segments(n):
    return max(1, -(-n // MSS))


def is_ip(host):
    try:
        socket.inet_aton(host)
        return host.count(".") == 3
    except OSError:
        return False


class Billing:
    """Bytes the network counts, up (from the modem) and down."""

    def __init__(self):
        self.up = 0
        self.down = 0
        self.log = []          # (t, what, up, down), most recent last (bounded)

    def add(self, t, what, up, down):
        self.up += up
        self.down += down
        self.log.append((round(t, 3), what, up, down))
        if len(self.log) > 2000:
            del self.log[:1000]

    @property
    def total(self):
        return self.up + self.down

    def dns(self, host, answered=True, tries=1):
        if is_ip(host):
            return 0, 0
        q = DNS_Q + len(host) + 2
        return q * tries, (q + DNS_ANSWER) if answered else 0

    def exchange(self, host, request_len, response_len, tls=False, answered=True):
        """(up, down) of one request on a new TCP connection."""
        up, down = self.dns(host)
        up += SYN + HDR
        down += SYN
        if tls:
            up += TLS_UP
            down += TLS_DOWN
            request_len += TLS_RECORD
            response_len += TLS_RECORD if response_len else 0
        seg_up = segments(request_len)
        up += request_len + seg_up * HDR
        down += -(-seg_up // 2) * HDR
        if answered:
            seg_down = segments(response_len)
            down += response_len + seg_down * HDR
            up += -(-seg_down // 2) * HDR
        up += 2 * HDR
        down += 2 * HDR
        return up, down

    def refused(self, host):
        up, down = self.dns(host)
        return up + 3 * SYN, down

    def ntp(self, host):
        up, down = self.dns(host)
        return up + NTP, down + NTP


def airtime(rat, request_len, response_len, host):
    """Seconds from HTTPACTION to the answer being in the modem."""
    rtt, up_bps, down_bps = LINKS.get(rat, LINKS["GSM"])
    t = 0 if is_ip(host) else rtt
    return t + 2 * rtt + request_len * 8 / up_bps + response_len * 8 / down_bps


class _CountingConnection(http.client.HTTPConnection):
    sent = 0

    def send(self, data):
        self.sent += len(data)
        super().send(data)


class HttpBridge:
    """Makes the modem's requests for real, blocking, from the event loop thread (so virtual
    time stands still while the server works)."""

    def __init__(self, server_url, timeout_s=15.0):
        self.server_url = server_url
        self.timeout_s = timeout_s

    def request(self, method, url, headers, body):
        """-> ("ok", status, response_len_on_wire, body, request_len) or (error, ...) where
        error is "refused" (no connection) or "timeout" (no answer)."""
        if not self.server_url:
            return "refused", 0, 0, b"", 0
        target = urlsplit(self.server_url)
        parts = urlsplit(url)
        path = (target.path.rstrip("/") + (parts.path or "/")) + ("?" + parts.query if parts.query else "")
        conn = _CountingConnection(target.hostname, target.port or 80, timeout=self.timeout_s)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                conn.putheader(k, v)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
            data = resp.read()
            head = len("HTTP/1.1 %d %s\r\n" % (resp.status, resp.reason)) + 2
            head += sum(len(k) + len(v) + 4 for k, v in resp.getheaders())
            return "ok", resp.status, head + len(data), data, conn.sent
        except (ConnectionRefusedError, socket.gaierror, OSError) as e:
            if isinstance(e, (socket.timeout, TimeoutError)):
                return "timeout", 0, 0, b"", conn.sent
            return "refused", 0, 0, b"", conn.sent
        finally:
            conn.close()

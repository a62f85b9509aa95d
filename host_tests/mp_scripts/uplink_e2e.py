# Host board script: the app with its uplink capability, a reading producer, and a stand-in for
# the modem (plain HTTP over a socket to the collector the test runs) that can be down for a
# while (in the first boot only) or lose answers.
# Script args: READINGS EVERY_S OUTAGE_FROM_S OUTAGE_TO_S LOSE_EVERY
import asyncio
import socket
import time

import hostconf
from meterlink import app as appmod

args = [int(a) for a in hostconf.conf.get("script_args")]
READINGS, EVERY_S, OUT_FROM, OUT_TO, LOSE_EVERY = args
T0 = time.ticks_ms()


class Down(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class HttpStandIn:
    """http_post/status/usage as the modem offers them, without the modem."""

    def __init__(self):
        self.posts = 0
        self.up = self.down = 0

    def _elapsed_s(self):
        return time.ticks_diff(time.ticks_ms(), T0) // 1000

    async def http_post(self, url, body, content_type="application/octet-stream", into=None):
        await asyncio.sleep_ms(800)                   # the modem's own time for a POST
        if app.spool.boot == 1 and OUT_FROM <= self._elapsed_s() < OUT_TO:
            raise Down("http_timeout")
        self.posts += 1
        hostport, path = url[7:].split("/", 1)
        host, port = hostport.split(":")
        s = socket.socket()
        s.connect(socket.getaddrinfo(host, int(port))[0][-1])
        head = "POST /%s HTTP/1.0\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
            path, hostport, content_type, len(body))
        s.send(head.encode())
        s.send(bytes(body))
        data = b""
        while True:
            chunk = s.recv(2048)
            if not chunk:
                break
            data += chunk
        s.close()
        self.up += len(head) + len(body)
        self.down += len(data)
        if LOSE_EVERY and self.posts % LOSE_EVERY == 0:
            raise Down("http_timeout")               # the collector got it; the answer was lost
        status_line, rest = data.split(b"\r\n", 1)
        return int(status_line.split()[1]), rest.split(b"\r\n\r\n", 1)[1]

    def status(self):
        return {"registered": True, "tech": "4G", "operator": "Sim Net", "csq": 18, "rssi_dbm": -77,
                "state": "ready", "sim": "ready", "last_error": None}

    def usage(self):
        return {"month": "2026-01", "up": self.up, "down": self.down}


app = appmod.build()
app.modem = HttpStandIn()


async def producer():
    base = 100000 * (app.spool.boot - 1)      # tells the readings of each boot apart
    for i in range(READINGS):
        app.alive("producer")
        app.readings.put("meter:E2E", app.clock.now(), app.clock.valid(),
                         {"1.8.0": ("%d.%03d" % (10000 + i // 7, i % 1000), "kWh"), "n": (base + i, None)})
        await asyncio.sleep_ms(EVERY_S * 1000)
    print("PRODUCED", READINGS)
    while True:
        app.alive("producer")
        await asyncio.sleep_ms(30000)


app.add_task("producer", producer, 120)
asyncio.run(app.main())

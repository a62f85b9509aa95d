"""Helpers for modem tests: the firmware's modem capability on the host board against the
modem simulator, in virtual time, with a local HTTP server standing in for the collector."""
import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hostboard_util import HostBoard, run_virtual
from hostboard_util import script as script_path
from meterlink_tools.sim.modem import ModemSim
from meterlink_tools.sim.wire import Medium, RFC2217Port

URL = "http://collector.example.net/api/v1/ingest"
HEAPSIZE = "320K"
SCRIPT = script_path("modem_drive.py")

# the bodies mp_scripts/modem_drive.py sends ("post:bin", "post:n<N>")
BIN = b"\x00\r\n\xffOK\r\n+HTTPREAD: 0\r\n\xff\xfe\r\rERROR\n> DOWNLOAD\x1a" + bytes(range(256))


def big(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


class Server:
    """A test collector: records each request, answers with `respond(body) -> (status, body)`."""

    def __init__(self, respond=None):
        self.requests = []
        self.respond = respond or (lambda body: (200, b"ack:" + body[:8]))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, data = outer.respond(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Run:
    def __init__(self, boots, sim, hb):
        self.boots = boots
        self.sim = sim
        self.hb = hb
        self.output = [line for b in boots for line in b.output]
        self.steps = [json.loads(line[5:]) for line in self.output if line.startswith("STEP ")]

    def step(self, kind, n=0):
        return [s for s in self.steps if s["step"] == kind][n]

    def commands(self, prefix):
        return [c for _t, c in self.sim.commands if c.upper().startswith(prefix.upper())]

    def events(self, kind):
        return [e for e in self.sim.events if e[1] == kind]


def run_modem(tmp_path, steps, model="sim7600", server=None, config=None, boots=None, modem=None,
              script=None, **switches):
    """Boot the firmware once per entry of `boots` (lists of steps; default: just `steps`)."""
    cfg = {"server": {"url": URL}, "apn": {"name": "iot.example"}}
    cfg.update(config or {})

    async def go(master):
        loop = asyncio.get_running_loop()
        medium = Medium(loop)
        port = RFC2217Port(medium, 1, clock=master, name="modem")
        await port.serve()
        dev = modem or ModemSim(model, server_url=server.url if server else None, **switches)
        medium.attach(dev)
        # the test script and its 16 KB body buffer are not firmware: 64K more heap for them
        hb = HostBoard(tmp_path, clock=master, uarts={1: port.url}, script=script or SCRIPT,
                       script_args=steps, modem_model=model, heapsize=HEAPSIZE,
                       files={"config.json": json.dumps(cfg)})
        done = []
        for i, plan in enumerate(boots or [steps]):
            hb.script_args = plan
            await hb.boot(cause=1 if i == 0 else 2)
            done.append(await hb.wait())
        port.close()
        return done, dev, hb
    return Run(*run_virtual(go))

"""The collector over HTTP: a Flask app around `Collector`, and a small server thread.

Answers are kept small because the device pays for every byte on air: no Server or Date
header, and the body is the binary answer.  `serve_in_thread` runs werkzeug's server in a
daemon thread, so a simulation can call it with a blocking client from its own loop.
"""
import threading

from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from .api import api
from .store import Collector

INGEST_PATH = "/i"


def create_app(collector=None, db_path=None, token=None, **kw):
    """The Flask app; pass a Collector, or db_path (and Collector's keyword arguments).
    `token`: the bearer token the management API (/api) asks for."""
    if collector is None:
        collector = Collector(db_path, **kw)
    app = Flask("meterlink_collector")
    app.config["MAX_CONTENT_LENGTH"] = max(collector.max_body, 1 << 20)
    app.config["METERLINK_TOKEN"] = token
    app.extensions["meterlink_collector"] = collector
    app.register_blueprint(api)

    @app.post(INGEST_PATH)
    def ingest():
        if (request.content_length or 0) > collector.max_body:
            return too_large(None)
        status, body, ctype = collector.ingest(request.get_data(cache=False))
        r = Response(body, status=status, content_type=ctype)
        if status == 200:
            # the terminal knows what it asked for: 40 bytes less on air, every upload
            del r.headers["Content-Type"]
        return r

    @app.get("/health")
    def health():
        return Response(b"ok\n", content_type="text/plain")

    @app.errorhandler(413)
    def too_large(e):
        collector.rejected["body too large"] = collector.rejected.get("body too large", 0) + 1
        return Response(b"body too large\n", status=413, content_type="text/plain")

    return app


class LeanHandler(WSGIRequestHandler):
    """Only the status line and the app's own headers; no access log (the DB is the record)."""

    def send_response(self, code, message=None):
        self.send_response_only(code, message)

    def log_request(self, code="-", size="-"):
        pass

    def handle(self):
        if not getattr(self.server, "reachable", True):
            return      # an outage: the connection closes without an answer
        super().handle()


class ServerThread:
    def __init__(self, app, host="127.0.0.1", port=0):
        self.server = make_server(host, port, app, request_handler=LeanHandler)
        self.server.reachable = True
        self.port = self.server.server_port
        self.host = host
        self._thread = threading.Thread(target=self.server.serve_forever, name="collector", daemon=True)

    @property
    def url(self):
        return "http://%s:%d%s" % (self.host, self.port, INGEST_PATH)

    def set_reachable(self, on):
        self.server.reachable = bool(on)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def serve_in_thread(collector, host="127.0.0.1", port=0, token=None):
    """Start the collector's HTTP server on a daemon thread; returns the ServerThread."""
    return ServerThread(create_app(collector, token=token), host, port).start()

"""`meterlink collector`: serve the reference collector."""
import os
import sys
import time

from ..cli import command
from .client import TOKEN_ENV


@command("collector", "run the reference collector")
def collector(args):
    from . import Collector, create_app
    from .web import LeanHandler
    from werkzeug.serving import run_simple
    c = Collector(args.db, max_body=args.max_body)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    app = create_app(c, token=token)
    print("meterlink collector: %s on http://%s:%d/i (database %s); management API /api %s" % (
        time.strftime("%Y-%m-%d %H:%M:%S"), args.host, args.port, args.db,
        "with a token" if token else "for local clients only (no --token)"), file=sys.stderr)
    try:
        run_simple(args.host, args.port, app, request_handler=LeanHandler, threaded=True)
    finally:
        c.close()
    return 0


def _configure(p):
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--db", default="collector.db", help="SQLite database file")
    p.add_argument("--max-body", type=int, default=65536, help="largest upload accepted, bytes")
    p.add_argument("--token", help="the bearer token the management API (/api) asks for "
                   "(default: $%s; without one only local clients may use it)" % TOKEN_ENV)


collector.configure = _configure

"""How the CLI reaches a collector: its SQLite database directly (`--db`), or a running
collector's management API (`--collector URL`, with `--token`).  Both give the same dicts."""
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TOKEN_ENV = "METERLINK_COLLECTOR_TOKEN"


class BackendError(Exception):
    def __init__(self, message, errors=(), warnings=()):
        super().__init__(message)
        self.errors = list(errors)
        self.warnings = list(warnings)


class Local:
    """The collector database on this machine."""

    def __init__(self, db_path, create=False):
        from .store import Collector
        from .views import Views
        if not create and not Path(db_path).exists():
            raise BackendError("no collector database at %s (`meterlink device add` or "
                               "`meterlink collector --db %s` creates it)" % (db_path, db_path))
        self.c = Collector(db_path)
        self.views = Views(self.c)
        self.where = str(db_path)

    def close(self):
        self.c.close()

    def _call(self, fn, *args, **kw):
        from .configs import QueueError
        from .registry import RegistryError
        try:
            return fn(*args, **kw)
        except QueueError as e:
            raise BackendError(str(e), e.errors, e.warnings) from None
        except RegistryError as e:
            raise BackendError(str(e)) from None

    def add(self, device_id, note=None, key=None):
        return self._call(self.c.register, device_id, note, key)

    def remove(self, device_id, purge=False):
        if not self.c.remove_device(device_id, purge):
            raise BackendError("device %s is not registered" % device_id)
        return {"device_id": device_id, "removed": True, "purged": purge}

    def claim(self, device_id, code, owner):
        return self._call(self.c.claim, device_id, code, owner)

    def devices(self):
        return self.views.devices()

    def device(self, device_id):
        out = self.views.device(device_id)
        if out is None:
            raise BackendError("device %s is not registered" % device_id)
        return out

    def push(self, device_id, text, bump=False):
        return self._call(self.c.configs.queue, device_id, text, bump=bump)

    def cancel(self, device_id, version):
        if not self.c.configs.cancel(device_id, version):
            raise BackendError("configuration %d of %s is not waiting for the device" % (version, device_id))
        return {"device_id": device_id, "version": version, "state": "cancelled"}

    def readings(self, query):
        return self.views.reading_sets(**query)

    def csv(self, query):
        return self.views.csv_chunks(**query)


class Remote:
    """A running collector, through its management API."""

    def __init__(self, url, token=None):
        self.base = url.rstrip("/")
        if self.base.endswith("/i"):
            self.base = self.base[:-2]      # the ingest URL names the same collector
        self.token = token if token is not None else os.environ.get(TOKEN_ENV)
        self.where = self.base

    def close(self):
        pass

    def _open(self, method, path, body=None, ctype="application/json", params=None):
        url = self.base + "/api" + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        req = urllib.request.Request(url, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", ctype)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            return urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as e:
            try:
                doc = json.loads(e.read())
            except ValueError:
                doc = {}
            raise BackendError(doc.get("error") or "the collector answered %d" % e.code,
                               doc.get("errors", ()), doc.get("warnings", ())) from None
        except urllib.error.URLError as e:
            raise BackendError("cannot reach the collector at %s: %s" % (self.base, e.reason)) from None

    def _json(self, method, path, doc=None, params=None):
        body = None if doc is None else json.dumps(doc).encode()
        with self._open(method, path, body, params=params) as r:
            return json.loads(r.read())

    def add(self, device_id, note=None, key=None):
        return self._json("POST", "/devices", {"device_id": device_id, "note": note,
                                                "key": key.hex() if key else None})

    def remove(self, device_id, purge=False):
        return self._json("DELETE", "/devices/%s" % _q(device_id), params={"purge": int(purge)})

    def claim(self, device_id, code, owner):
        return self._json("POST", "/devices/%s/claim" % _q(device_id), {"code": code, "owner": owner})

    def devices(self):
        return self._json("GET", "/devices")["devices"]

    def device(self, device_id):
        return self._json("GET", "/devices/%s" % _q(device_id))

    def push(self, device_id, text, bump=False):
        with self._open("POST", "/devices/%s/configs" % _q(device_id), text.encode(),
                        params={"bump": 1} if bump else None) as r:
            return json.loads(r.read())

    def cancel(self, device_id, version):
        return self._json("DELETE", "/devices/%s/configs/%d" % (_q(device_id), version))

    def _params(self, query, fmt):
        p = {"device": query.get("device"), "source": query.get("source"), "key": list(query.get("keys") or ()),
             "from": query.get("since"), "to": query.get("until"), "limit": query.get("limit"), "format": fmt}
        return {k: v for k, v in p.items() if v not in (None, [], "")}

    def readings(self, query):
        with self._open("GET", "/readings", params=self._params(query, "json")) as r:
            return iter(json.loads(r.read())["readings"])

    def csv(self, query):
        with self._open("GET", "/readings", params=self._params(query, "csv")) as r:
            while True:
                chunk = r.read(65536)
                if not chunk:
                    return
                yield chunk.decode("utf-8")


def _q(text):
    return urllib.parse.quote(text, safe="")


def connect(args, create=False):
    """The backend the command's options name: --collector URL, else the --db file."""
    url = getattr(args, "collector", None)
    if url:
        return Remote(url, getattr(args, "token", None))
    return Local(args.db, create=create)


def add_options(p):
    """--db / --collector-db, --collector URL, --token: where the collector is."""
    g = p.add_argument_group("collector")
    g.add_argument("--db", "--collector-db", dest="db", default="collector.db", metavar="PATH",
                   help="the collector's SQLite database (default: collector.db)")
    g.add_argument("--collector", metavar="URL",
                   help="a running collector instead, e.g. http://collector.example.com:8080")
    g.add_argument("--token", help="its API token (default: $%s)" % TOKEN_ENV)

"""The collector's management API (JSON over HTTP, docs/collector.md): the device registry, the
configuration queue, each device's status, readings and CSV export.  A bearer token guards it;
without one configured only clients on this machine (loopback) may use it."""
import hmac
import json

from flask import Blueprint, Response, current_app, jsonify, request

from .configs import QueueError
from .registry import RegistryError
from .views import Views, parse_time

api = Blueprint("meterlink_api", __name__, url_prefix="/api")
LOOPBACK = ("127.0.0.1", "::1")


def _collector():
    return current_app.extensions["meterlink_collector"]


def _fail(status, message, **extra):
    body = {"error": message}
    body.update(extra)
    return jsonify(body), status


@api.before_request
def _guard():
    token = current_app.config.get("METERLINK_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), ("Bearer " + token).encode()):
            return _fail(401, "a valid 'Authorization: Bearer TOKEN' header is needed")
    elif request.remote_addr not in LOOPBACK:
        return _fail(403, "the collector has no API token set (--token): only local clients may manage it")
    return None


@api.errorhandler(RegistryError)
def _registry_error(e):
    return _fail(e.status, str(e))


@api.errorhandler(QueueError)
def _queue_error(e):
    return _fail(e.status, str(e), errors=e.errors, warnings=e.warnings)


@api.errorhandler(ValueError)
def _bad_value(e):
    return _fail(400, str(e))


def _json_body():
    doc = request.get_json(silent=True)
    if not isinstance(doc, dict):
        raise ValueError("the request body must be a JSON object")
    return doc


@api.get("/devices")
def devices():
    return jsonify({"devices": Views(_collector()).devices()})


@api.post("/devices")
def add_device():
    doc = _json_body()
    key = doc.get("key")
    out = _collector().register(doc.get("device_id"), doc.get("note"),
                                bytes.fromhex(key) if key else None)
    return jsonify(out), 201


@api.get("/devices/<device_id>")
def device(device_id):
    out = Views(_collector()).device(device_id)
    if out is None:
        return _fail(404, "device %s is not registered" % device_id)
    return jsonify(out)


@api.delete("/devices/<device_id>")
def remove_device(device_id):
    purge = request.args.get("purge") in ("1", "true", "yes")
    if not _collector().remove_device(device_id, purge):
        return _fail(404, "device %s is not registered" % device_id)
    return jsonify({"device_id": device_id, "removed": True, "purged": purge})


@api.post("/devices/<device_id>/claim")
def claim(device_id):
    doc = _json_body()
    return jsonify(_collector().claim(device_id, doc.get("code"), doc.get("owner")))


@api.get("/devices/<device_id>/configs")
def configs(device_id):
    c = _collector()
    if c.device_key(device_id) is None:
        return _fail(404, "device %s is not registered" % device_id)
    return jsonify({"device_id": device_id, "configs": c.configs.history(device_id)})


@api.post("/devices/<device_id>/configs")
def push_config(device_id):
    text = request.get_data(as_text=True)
    bump = request.args.get("bump") in ("1", "true", "yes")
    return jsonify(_collector().configs.queue(device_id, text, bump=bump)), 201


@api.get("/devices/<device_id>/configs/<int:version>")
def config_document(device_id, version):
    text = _collector().configs.document(device_id, version)
    if text is None:
        return _fail(404, "no configuration %d for %s" % (version, device_id))
    return Response(text, content_type="application/json")


@api.delete("/devices/<device_id>/configs/<int:version>")
def cancel_config(device_id, version):
    if not _collector().configs.cancel(device_id, version):
        return _fail(409, "configuration %d of %s is not waiting for the device" % (version, device_id))
    return jsonify({"device_id": device_id, "version": version, "state": "cancelled"})


def reading_query(args, device=None):
    """The readings query from the request's arguments (ValueError: a 400 naming the problem)."""
    limit = args.get("limit")
    return {"device": device or args.get("device") or None, "source": args.get("source") or None,
            "keys": [k for k in args.getlist("key") if k],
            "since": parse_time(args.get("from")), "until": parse_time(args.get("to")),
            "limit": int(limit) if limit else None}


@api.get("/readings")
@api.get("/devices/<device_id>/readings")
def readings(device_id=None):
    query = reading_query(request.args, device_id)
    views = Views(_collector())
    if request.args.get("format") == "csv":
        return Response(views.csv_chunks(**query), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=readings.csv"})

    def stream():
        yield '{"readings": ['
        for i, s in enumerate(views.reading_sets(**query)):
            yield ("," if i else "") + json.dumps(s)
        yield "]}\n"
    return Response(stream(), content_type="application/json")

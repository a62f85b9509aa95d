"""The configuration queue: documents checked with the device's own schema, versioned, signed with
the device key, handed to the device in the answer to its next upload; what the device reports
(running, refused, rolled back) moves each one through its states (docs/config-push.md)."""
import json

from . import wire

SCHEMA = """
CREATE TABLE IF NOT EXISTS configs (
    device_id TEXT, version INTEGER, document TEXT, signed BLOB, queued_at REAL,
    state TEXT, reason TEXT, state_at REAL, delivered_at REAL,
    deliveries INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (device_id, version));
"""

# waiting for the device: queued (not sent yet), delivered (sent, no report yet)
WAITING = ("queued", "delivered")
STATES = WAITING + ("running", "replaced", "refused", "rolled_back", "superseded", "abandoned",
                    "cancelled")
MAX_DELIVERIES = 5      # a device that never reports on a document stops getting it (air time)
ANSWER_OVERHEAD = 32    # the answer around a document: head, ack, time, length, tag
FIELDS = ("version", "state", "reason", "queued_at", "delivered_at", "deliveries", "state_at")


class QueueError(ValueError):
    """A document that cannot be queued; `errors` lists 'field: problem' for each."""

    def __init__(self, errors, warnings=(), status=400):
        super().__init__("; ".join(errors))
        self.errors = list(errors)
        self.warnings = list(warnings)
        self.status = status


def check_document(text, profiles=None):
    """(document, warnings) if `text` is a configuration the device's schema accepts."""
    from ..schema import fwconfig
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise QueueError(["config: not valid JSON (%s)" % e]) from None
    warnings = []
    try:
        fwconfig.check(doc, profiles, warnings)
    except fwconfig.ConfigError as e:
        raise QueueError(e.errors, e.warnings) from None
    for section, name in (("server", "url"), ("apn", "name")):
        if name not in (doc.get(section) or {}):
            warnings.append("%s.%s: not in the document, the device takes the built-in default "
                            "(%r); if that breaks its uploads it rolls the configuration back"
                            % (section, name, fwconfig.DEFAULTS[section][name]))
    return doc, warnings


class ConfigQueue:
    def __init__(self, collector):
        self.c = collector
        collector.db.executescript(SCHEMA)

    def _rows(self, device_id, where="", args=()):
        return self.c.db.execute(
            "SELECT version, state, reason, queued_at, delivered_at, deliveries, state_at FROM configs"
            " WHERE device_id = ? %s ORDER BY version" % where, (device_id,) + tuple(args)).fetchall()

    def _answer_room(self, device_id):
        """The terminal's request buffer, which takes the answer: uplink.max_body of the document
        it runs as far as the collector knows it, else the default."""
        from ..schema import fwconfig
        row = self.c.db.execute("SELECT document FROM configs WHERE device_id = ? AND state = 'running' "
                                "ORDER BY version DESC LIMIT 1", (device_id,)).fetchone()
        doc = json.loads(row[0]) if row else {}
        return int(fwconfig.merge(fwconfig.DEFAULTS, doc)["uplink"]["max_body"])

    def next_version(self, device_id):
        """The lowest version a new document may have: above all queued and the one running."""
        top = self.c.db.execute("SELECT MAX(version) FROM configs WHERE device_id = ?",
                                (device_id,)).fetchone()[0] or 0
        running = self.c.device_status(device_id).get("config_version") or 0
        return max(top, running) + 1

    def queue(self, device_id, text, bump=False, check=True, profiles=None):
        """Queue a document for the device; {"version", "state", "warnings", "bytes"}.

        `bump`: give it the next free version.  `check=False` skips the schema (to try the
        device's own checks); the signature and the version rule always apply."""
        with self.c._lock:
            key = self.c.device_key(device_id)
            if key is None:
                raise QueueError(["device: %s is not registered" % device_id], status=404)
            if check:
                doc, warnings = check_document(text, profiles)
            else:
                doc, warnings = json.loads(text), []
            if not isinstance(doc, dict):
                raise QueueError(["config: the document must be a JSON object"])
            low = self.next_version(device_id)
            if bump:
                doc["version"] = low
            version = doc.get("version")
            if type(version) is not int or version < low:
                raise QueueError(["version: %r is not newer than every version queued for %s or "
                                  "running there; give %d or more (or --bump)" % (version, device_id, low)],
                                 warnings, status=409)
            body = json.dumps(doc, separators=(",", ":"))
            signed = wire.config_document(key, device_id, version, body)
            room = self._answer_room(device_id)
            if len(signed) + ANSWER_OVERHEAD > room:
                warnings.append("config: the answer carrying it (%d B) is larger than the terminal's "
                                "uplink.max_body (%d B): it takes it only if its heap has another free "
                                "block of that size" % (len(signed) + ANSWER_OVERHEAD, room))
            now = self.c.clock()
            db = self.c.db
            db.execute("BEGIN")
            try:
                db.execute("UPDATE configs SET state = 'superseded', state_at = ? WHERE device_id = ?"
                           " AND state IN ('queued', 'delivered')", (now, device_id))
                db.execute("INSERT INTO configs (device_id, version, document, signed, queued_at, state,"
                           " state_at) VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                           (device_id, version, body, signed, now, now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return {"device_id": device_id, "version": version, "state": "queued", "warnings": warnings,
                "bytes": len(signed)}

    def cancel(self, device_id, version):
        """Withdraw a document the device has not reported on; False if there was none."""
        with self.c._lock:
            cur = self.c.db.execute(
                "UPDATE configs SET state = 'cancelled', state_at = ? WHERE device_id = ? AND version = ?"
                " AND state IN ('queued', 'delivered')", (self.c.clock(), device_id, version))
        return cur.rowcount > 0

    def history(self, device_id):
        with self.c._lock:
            rows = self._rows(device_id)
        return [dict(zip(FIELDS, r)) for r in rows]

    def document(self, device_id, version):
        with self.c._lock:
            row = self.c.db.execute("SELECT document FROM configs WHERE device_id = ? AND version = ?",
                                    (device_id, version)).fetchone()
        return row[0] if row else None

    # -- called by the ingest, under the collector's lock --

    def on_status(self, device_id, status):
        """Move the documents through their states by what the device reports."""
        running = status.get("config_version")
        refused = status.get("config_refused_version")
        rolled = status.get("config_rolled_back_version")
        now = self.c.clock()
        for version, state, reason, *_ in self._rows(device_id):
            new, why = state, reason
            if version == rolled and state != "rolled_back":
                new, why = "rolled_back", status.get("config_rolled_back")
            elif state == "rolled_back":
                pass
            elif version == running:
                new, why = "running", None
            elif state == "running":
                new = "replaced"
            elif version == refused and state in WAITING + ("superseded", "abandoned"):
                new, why = "refused", status.get("config_refused")
            elif running is not None and version < running and state in WAITING:
                new = "superseded"
            if (new, why) != (state, reason):
                self.c.db.execute("UPDATE configs SET state = ?, reason = ?, state_at = ? WHERE "
                                  "device_id = ? AND version = ?", (new, why, now, device_id, version))

    def for_answer(self, device_id, status):
        """The signed document to put into this answer, or None."""
        row = self.c.db.execute(
            "SELECT version, signed, deliveries FROM configs WHERE device_id = ? AND state IN "
            "('queued', 'delivered') ORDER BY version DESC LIMIT 1", (device_id,)).fetchone()
        if row is None:
            return None
        version, signed, deliveries = row
        now = self.c.clock()
        if deliveries >= MAX_DELIVERIES:
            self.c.db.execute("UPDATE configs SET state = 'abandoned', reason = ?, state_at = ? WHERE "
                              "device_id = ? AND version = ?",
                              ("delivered %d times without a report from the device" % deliveries,
                               now, device_id, version))
            return None
        self.c.db.execute("UPDATE configs SET state = 'delivered', deliveries = deliveries + 1, "
                          "delivered_at = COALESCE(delivered_at, ?), state_at = ? WHERE device_id = ? "
                          "AND version = ?", (now, now, device_id, version))
        return bytes(signed)

"""Read-only views of the collector's database: each device's status and configurations, and
readings by device, source, key and time range, as JSON-ready dicts or CSV (docs/collector.md).
Queries use their own SQLite connection, so a long export never holds up the ingest."""
import calendar
import csv
import io
import json
import re
import sqlite3
import time

CSV_COLUMNS = ("device", "source", "time", "key", "value", "unit", "clock_ok", "device_time")
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?)?"
                  r"(Z|[+-]\d\d:?\d\d)?$")

ERROR_ITEMS = ("upload_failures", "log_errors", "log_warnings", "task_failures", "modem_error")
SPOOL_ITEMS = ("lost_batches", "lost_sets", "pending")


def iso(t):
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_time(text):
    """Unix seconds from '1767225600', '2026-01-01', '2026-01-01T06:00[:00][Z|+03:00]'
    (no zone: UTC); ValueError otherwise."""
    if text is None or text == "":
        return None
    text = str(text).strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    m = _ISO.match(text)
    if not m:
        raise ValueError("time: %r is neither Unix seconds nor ISO 8601 (2026-01-01T06:00:00Z)" % text)
    y, mo, d, h, mi, s, zone = m.groups()
    t = calendar.timegm((int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0)))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        t -= sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return t


class Views:
    def __init__(self, collector):
        self.c = collector

    def _db(self):
        if self.c.db_path == ":memory:":
            return self.c.db, False
        db = sqlite3.connect("file:%s?mode=ro" % self.c.db_path, uri=True)
        return db, True

    def _query(self, sql, args=()):
        db, own = self._db()
        try:
            return db.execute(sql, args).fetchall()
        finally:
            if own:
                db.close()

    # -- devices --

    def devices(self):
        rows = self._query("SELECT d.device_id, d.note, d.owner, d.added_at, s.last_seen, s.status "
                           "FROM devices d LEFT JOIN device_state s USING (device_id) ORDER BY d.device_id")
        return [self._summary(*r) for r in rows]

    def _summary(self, device_id, note, owner, added_at, last_seen, status):
        st = json.loads(status) if status else {}
        waiting = self._query("SELECT version, state FROM configs WHERE device_id = ? AND state IN "
                              "('queued', 'delivered') ORDER BY version DESC LIMIT 1", (device_id,))
        return {
            "device_id": device_id, "note": note, "owner": owner, "added": iso(added_at),
            "last_seen": iso(last_seen),
            "config": {"running": st.get("config_version"),
                       "waiting": dict(zip(("version", "state"), waiting[0])) if waiting else None},
            "signal": {"csq": st.get("csq"), "rssi_dbm": st.get("rssi_dbm")},
            "tech": st.get("tech"), "operator": st.get("operator"),
            "usage": {"month": st.get("usage_month"), "up": st.get("usage_up"), "down": st.get("usage_down")},
            "errors": {k: st.get(k) for k in ERROR_ITEMS},
            "spool": {k: st.get(k) for k in SPOOL_ITEMS},
            "firmware": st.get("firmware"),
        }

    def device(self, device_id):
        """Everything about one device, or None if it is not registered."""
        rows = self._query("SELECT d.device_id, d.note, d.owner, d.added_at, s.last_seen, s.status "
                           "FROM devices d LEFT JOIN device_state s USING (device_id) WHERE d.device_id = ?",
                           (device_id,))
        if not rows:
            return None
        out = self._summary(*rows[0])
        out["status"] = json.loads(rows[0][5]) if rows[0][5] else {}
        out["configs"] = [dict(zip(("version", "state", "reason", "queued", "delivered", "deliveries",
                                    "changed"), (v, st, why, iso(q), iso(dl), n, iso(ch))))
                          for v, st, why, q, dl, n, ch in self._query(
                              "SELECT version, state, reason, queued_at, delivered_at, deliveries, state_at"
                              " FROM configs WHERE device_id = ? ORDER BY version", (device_id,))]
        n, nbytes, first, last = self._query(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(received_at), MAX(received_at) FROM uploads "
            "WHERE device_id = ?", (device_id,))[0]
        out["uploads"] = {"count": n, "body_bytes": nbytes, "first": iso(first), "last": iso(last)}
        n, first, last = self._query("SELECT COUNT(*), MIN(t), MAX(t) FROM reading_sets WHERE device_id = ?",
                                     (device_id,))[0]
        out["readings"] = {"sets": n, "first": iso(first), "last": iso(last)}
        return out

    # -- readings --

    def reading_sets(self, device=None, source=None, keys=(), since=None, until=None, limit=None):
        """Reading sets, oldest first per device: dicts with device, source, t, time, clock_ok,
        device_time and values {key: [value, unit]}.  `source` may hold * and ? wildcards; a time
        range leaves out sets whose time is unknown."""
        where, args = [], []
        if device:
            where.append("device_id = ?")
            args.append(device)
        if source:
            where.append("source GLOB ?" if any(c in source for c in "*?[") else "source = ?")
            args.append(source)
        if since is not None:
            where.append("t >= ?")
            args.append(since)
        if until is not None:
            where.append("t < ?")
            args.append(until)
        keys = list(keys or ())
        key_sql = " AND key IN (%s)" % ",".join("?" * len(keys)) if keys else ""
        if keys:
            where.append("EXISTS (SELECT 1 FROM readings r WHERE r.set_id = rs.id%s)" % key_sql)
            args += keys
        sets = "SELECT id FROM reading_sets rs%s ORDER BY device_id, COALESCE(t, t_device), id%s" % (
            " WHERE " + " AND ".join(where) if where else "", " LIMIT %d" % int(limit) if limit else "")
        sql = ("SELECT rs.id, rs.device_id, rs.source, rs.t, rs.clock_ok, rs.t_device, r.key, r.unit, r.value "
               "FROM reading_sets rs JOIN readings r ON r.set_id = rs.id WHERE rs.id IN (%s)%s "
               "ORDER BY rs.device_id, COALESCE(rs.t, rs.t_device), rs.id, r.rowid" % (sets, key_sql))
        db, own = self._db()
        try:
            cur = db.execute(sql, args + keys)
            current = None
            for sid, dev, src, t, ok, td, key, unit, value in cur:
                if current is None or current["id"] != sid:
                    if current is not None:
                        yield _public(current)
                    current = {"id": sid, "device": dev, "source": src, "t": t, "time": iso(t),
                               "clock_ok": bool(ok), "device_time": iso(td), "values": {}}
                current["values"][key] = [value, unit]
            if current is not None:
                yield _public(current)
        finally:
            if own:
                db.close()

    def csv_chunks(self, **query):
        """The readings as CSV text, one reading per row, in chunks (for streaming)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(CSV_COLUMNS)
        for n, s in enumerate(self.reading_sets(**query)):
            for key, (value, unit) in s["values"].items():
                w.writerow((s["device"], s["source"], s["time"] or "", key, value, unit or "",
                            int(s["clock_ok"]), s["device_time"]))
            if n % 200 == 199:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()


def _public(s):
    del s["id"]
    return s

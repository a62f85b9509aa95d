"""The collector's core: the ingest of signed batches into SQLite, with the device registry
(registry.py) and the configuration queue (configs.py) beside it.

`Collector.ingest(body)` handles one upload synchronously and returns (HTTP status, body,
content type); the web layer only passes bytes through.  Time comes from an injectable clock,
so a simulation can run it on virtual time.
"""
import hashlib
import json
import sqlite3
import threading
import time

from . import registry, wire
from .configs import ConfigQueue

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY, key BLOB NOT NULL, added_at REAL, note TEXT);
CREATE TABLE IF NOT EXISTS device_state (
    device_id TEXT PRIMARY KEY, life INTEGER, boot INTEGER, req INTEGER,
    last_seq INTEGER NOT NULL DEFAULT 0, last_seen REAL, status TEXT);
CREATE TABLE IF NOT EXISTS batches (
    device_id TEXT, seq INTEGER, life INTEGER, epoch INTEGER, digest BLOB,
    received_at REAL, n_sets INTEGER, PRIMARY KEY (device_id, seq));
CREATE TABLE IF NOT EXISTS dictionary (
    device_id TEXT, life INTEGER, epoch INTEGER, kind INTEGER, idx INTEGER, content TEXT,
    PRIMARY KEY (device_id, life, epoch, kind, idx));
CREATE TABLE IF NOT EXISTS clock_fixes (
    device_id TEXT, life INTEGER, epoch INTEGER, fix INTEGER,
    PRIMARY KEY (device_id, life, epoch));
CREATE TABLE IF NOT EXISTS reading_sets (
    id INTEGER PRIMARY KEY, device_id TEXT, seq INTEGER, life INTEGER, epoch INTEGER,
    source TEXT, t_device INTEGER, clock_ok INTEGER, t INTEGER);
CREATE INDEX IF NOT EXISTS reading_sets_by_device ON reading_sets (device_id, life, epoch);
CREATE INDEX IF NOT EXISTS reading_sets_by_time ON reading_sets (device_id, t);
CREATE TABLE IF NOT EXISTS readings (set_id INTEGER, key TEXT, unit TEXT, value TEXT);
CREATE INDEX IF NOT EXISTS readings_by_set ON readings (set_id);
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY, device_id TEXT, received_at REAL, life INTEGER, boot INTEGER,
    req INTEGER, batches INTEGER, new_batches INTEGER, bytes INTEGER, status TEXT);
"""

OCTETS = "application/octet-stream"
TEXT = "text/plain"


class Collector(registry.Registry):
    def __init__(self, db_path, clock=time.time, max_body=65536, config_for=None):
        self.db_path = str(db_path)
        self.clock = clock
        self.max_body = max_body
        # hook: config_for(device_id, status dict) -> signed config document bytes, or None;
        # without it the configuration queue answers
        self.config_for = config_for
        self._lock = threading.RLock()
        self.db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        registry.migrate(self.db)
        self.configs = ConfigQueue(self)
        self.rejected = {}     # reason -> count

    # -- ingest --

    def _reject(self, status, reason):
        kind = reason.split(":")[0]
        self.rejected[kind] = self.rejected.get(kind, 0) + 1
        return status, (reason + "\n").encode(), TEXT

    def ingest(self, body):
        """One upload: (HTTP status, answer bytes, content type)."""
        if len(body) > self.max_body:
            return self._reject(413, "body larger than %d bytes" % self.max_body)
        try:
            req = wire.parse_request(body)
        except wire.Malformed as e:
            return self._reject(400, "malformed: %s" % e)
        with self._lock:
            return self._ingest(req, len(body))

    def _ingest(self, req, size):
        db = self.db
        key = self.device_key(req.device_id)
        if key is None:
            return self._reject(403, "unknown device")
        if not wire.verify(key, req):
            return self._reject(401, "tag does not verify")
        st = db.execute("SELECT boot, req, last_seq, status FROM device_state WHERE device_id = ?",
                        (req.device_id,)).fetchone()
        last_boot, last_req, last_seq, old_status = st if st else (0, -1, 0, None)
        now = self.clock()
        same, new, conflict = [], [], False
        for seq, data in req.batches:
            digest = hashlib.sha256(data).digest()
            row = db.execute("SELECT digest FROM batches WHERE device_id = ? AND seq = ?",
                             (req.device_id, seq)).fetchone()
            if row is not None:
                if bytes(row[0]) != digest:
                    conflict = True
                elif not new:
                    same.append(seq)
            elif seq <= last_seq:
                conflict = True
            else:
                new.append((seq, data, digest))
        if (req.boot, req.req) <= (last_boot, last_req) or conflict:
            self.rejected["replay"] = self.rejected.get("replay", 0) + 1
            ack = same[-1] if same else 0     # the leading batches it already holds, unchanged
            return 409, wire.answer(key, req.tag, ack, now, resync=(last_boot, last_req, last_seq)), OCTETS
        try:
            decoded = self._decode(req, new)
        except wire.Malformed as e:
            return self._reject(400, "malformed batch: %s" % e)
        db.execute("BEGIN")
        try:
            for (seq, data, digest), batch in zip(new, decoded):
                self._store(req, seq, digest, batch, now)
            top = max([last_seq] + [s for s, _ in req.batches])
            status = json.loads(old_status) if old_status else {}
            status.update(req.status)        # devices send only what changed
            db.execute("INSERT OR REPLACE INTO device_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (req.device_id, req.life, req.boot, req.req, top, now, json.dumps(status)))
            db.execute("INSERT INTO uploads (device_id, received_at, life, boot, req, batches, new_batches,"
                       " bytes, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (req.device_id, now, req.life, req.boot, req.req, len(req.batches), len(new), size,
                        json.dumps(req.status)))
            self.configs.on_status(req.device_id, status)
            if self.config_for is not None:
                config = self.config_for(req.device_id, status)
            else:
                config = self.configs.for_answer(req.device_id, status)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        ack = req.batches[-1][0] if req.batches else 0
        return 200, wire.answer(key, req.tag, ack, now, config=config), OCTETS

    def _decode(self, req, new):
        """Decode every new batch before anything is stored (all or nothing)."""
        known = {}
        out = []
        for seq, data, _ in new:
            epoch = wire.Reader(data).uvarint()
            if epoch not in known:
                known[epoch] = self._dictionary(req.device_id, req.life, epoch)
            defs = known[epoch]
            batch = wire.decode_batch(data, lambda kind, idx: defs.get((kind, idx)))
            for kind, idx, content in batch.defs:
                defs[(kind, idx)] = content
            out.append(batch)
        return out

    def _dictionary(self, device_id, life, epoch):
        d = {}
        for kind, idx, content in self.db.execute(
                "SELECT kind, idx, content FROM dictionary WHERE device_id = ? AND life = ? AND epoch = ?",
                (device_id, life, epoch)):
            v = json.loads(content)
            d[(kind, idx)] = tuple(v) if isinstance(v, list) else v
        return d

    def _store(self, req, seq, digest, batch, now):
        db = self.db
        dev, life, epoch = req.device_id, req.life, batch.epoch
        db.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (dev, seq, life, epoch, digest, now, len(batch.sets)))
        for kind, idx, content in batch.defs:
            db.execute("INSERT OR REPLACE INTO dictionary VALUES (?, ?, ?, ?, ?, ?)",
                       (dev, life, epoch, kind, idx, json.dumps(content)))
        fix = batch.clock_fix
        if fix is None:
            row = db.execute("SELECT fix FROM clock_fixes WHERE device_id = ? AND life = ? AND epoch = ?",
                             (dev, life, epoch)).fetchone()
            fix = row[0] if row else None
        else:
            db.execute("INSERT OR REPLACE INTO clock_fixes VALUES (?, ?, ?, ?)", (dev, life, epoch, fix))
            db.execute("UPDATE reading_sets SET t = t_device + ? WHERE device_id = ? AND life = ? "
                       "AND epoch = ? AND clock_ok = 0", (fix, dev, life, epoch))
        for source, t, clock_ok, values in batch.sets:
            t_utc = t if clock_ok else (t + fix if fix is not None else None)
            cur = db.execute("INSERT INTO reading_sets (device_id, seq, life, epoch, source, t_device,"
                             " clock_ok, t) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (dev, seq, life, epoch, source, t, int(clock_ok), t_utc))
            db.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)",
                           [(cur.lastrowid, k, u, v) for k, u, v in values])

    # -- queries --

    def stats(self, device_id=None):
        """Counts for summaries: reading sets stored, stored twice, batches, resent batches."""
        where, args = ("WHERE device_id = ?", (device_id,)) if device_id else ("", ())
        with self._lock:
            q = self.db.execute
            stored = q("SELECT COUNT(*) FROM reading_sets " + where, args).fetchone()[0]
            dup = q("SELECT COALESCE(SUM(c - 1), 0) FROM (SELECT COUNT(*) c FROM reading_sets " + where +
                    " GROUP BY device_id, life, epoch, source, t_device HAVING c > 1)", args).fetchone()[0]
            batches = q("SELECT COUNT(*) FROM batches " + where, args).fetchone()[0]
            up = q("SELECT COUNT(*), COALESCE(SUM(batches - new_batches), 0), COALESCE(SUM(bytes), 0),"
                   " MIN(received_at) FROM uploads " + where, args).fetchone()
            unfixed = q("SELECT COUNT(*) FROM reading_sets " + (where + " AND" if where else "WHERE") +
                        " t IS NULL", args).fetchone()[0]
        return {"stored": stored, "duplicates": dup, "batches": batches, "uploads": up[0],
                "resent_batches": up[1], "body_bytes": up[2], "first_upload_at": up[3],
                "clock_unknown": unfixed, "rejected": dict(self.rejected)}

    def reading_sets(self, device_id):
        """[(source, t, clock_ok, t_device, {key: (value, unit)})] in arrival order."""
        with self._lock:
            rows = self.db.execute("SELECT id, source, t, clock_ok, t_device FROM reading_sets "
                                   "WHERE device_id = ? ORDER BY id", (device_id,)).fetchall()
            out = []
            for sid, source, t, ok, td in rows:
                vals = {k: (v, u) for k, u, v in self.db.execute(
                    "SELECT key, unit, value FROM readings WHERE set_id = ?", (sid,))}
                out.append((source, t, bool(ok), td, vals))
        return out

    def close(self):
        self.db.close()

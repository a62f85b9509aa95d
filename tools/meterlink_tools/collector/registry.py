"""The device registry: each device's key, and the authorisation code printed on its box label
that lets an owner claim it (docs/collector.md)."""
import hashlib
import hmac
import json
import re
import secrets

ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")       # what the device's secrets.json may hold
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"    # no 0/O, 1/I/L: read off a label
CODE_LEN = 12

DEVICE_COLUMNS = {"auth_hash": "TEXT", "owner": "TEXT", "claimed_at": "REAL"}
CLAIM_TRIES = 5             # wrong codes for one device within CLAIM_WINDOW_S; then 429
CLAIM_WINDOW_S = 900


class RegistryError(ValueError):
    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def new_auth_code():
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LEN))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LEN, 4))


def _code_hash(code):
    norm = "".join(c for c in code.upper() if c.isalnum())
    return hashlib.sha256(("meterlink claim:" + norm).encode()).hexdigest()


def migrate(db):
    """Columns newer collectors added to a database an older one created."""
    have = {row[1] for row in db.execute("PRAGMA table_info(devices)")}
    for name, kind in DEVICE_COLUMNS.items():
        if name not in have:
            db.execute("ALTER TABLE devices ADD COLUMN %s %s" % (name, kind))


class Registry:
    """Mixed into Collector: uses its db, _lock and clock."""

    def register(self, device_id, note=None, key=None):
        """Add a device: {"device_id", "key" (hex), "auth_code"}; the code is kept only hashed."""
        if not isinstance(device_id, str) or not ID_RE.match(device_id):
            raise RegistryError("device id: 1 to 32 letters, digits, '_', '-' or '.', got %r" % (device_id,))
        key = bytes(key) if key is not None else secrets.token_bytes(32)
        if not 16 <= len(key) <= 64:
            raise RegistryError("key: 16 to 64 bytes, got %d" % len(key))
        code = new_auth_code()
        with self._lock:
            if self.device_key(device_id) is not None:
                raise RegistryError("device %s is already registered" % device_id, 409)
            self.db.execute("INSERT INTO devices (device_id, key, added_at, note, auth_hash) "
                            "VALUES (?, ?, ?, ?, ?)", (device_id, key, self.clock(), note, _code_hash(code)))
        return {"device_id": device_id, "key": key.hex(), "auth_code": code}

    def add_device(self, device_id, key=None, note=None):
        """Register a device; returns its key (32 random bytes unless given)."""
        return bytes.fromhex(self.register(device_id, note, key)["key"])

    def device_key(self, device_id):
        row = self.db.execute("SELECT key FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return bytes(row[0]) if row else None

    def remove_device(self, device_id, purge=False):
        """Forget a device (its uploads are refused from now on); `purge` also deletes what it
        uploaded.  False if it was not registered."""
        tables = ("device_state", "batches", "dictionary", "clock_fixes", "uploads", "configs")
        with self._lock:
            db = self.db
            db.execute("BEGIN")
            try:
                n = db.execute("DELETE FROM devices WHERE device_id = ?", (device_id,)).rowcount
                db.execute("UPDATE configs SET state = 'cancelled', state_at = ? WHERE device_id = ? "
                           "AND state IN ('queued', 'delivered')", (self.clock(), device_id))
                if purge:
                    db.execute("DELETE FROM readings WHERE set_id IN "
                               "(SELECT id FROM reading_sets WHERE device_id = ?)", (device_id,))
                    for t in ("reading_sets",) + tables:
                        db.execute("DELETE FROM %s WHERE device_id = ?" % t, (device_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return n > 0

    def claim(self, device_id, code, owner):
        """An owner claims a device with the code from its box label."""
        if not owner:
            raise RegistryError("owner: needed")
        with self._lock:
            now = self.clock()
            if not hasattr(self, "_claim_fails"):
                self._claim_fails = {}          # device id -> times of wrong codes (in memory)
            fails = [t for t in self._claim_fails.get(device_id, ()) if now - t < CLAIM_WINDOW_S]
            if len(fails) >= CLAIM_TRIES:
                wait = int(fails[0] + CLAIM_WINDOW_S - now) + 1
                raise RegistryError("too many wrong authorisation codes for %s: try again in %d s"
                                    % (device_id, wait), 429)
            row = self.db.execute("SELECT auth_hash, owner FROM devices WHERE device_id = ?",
                                  (device_id,)).fetchone()
            if row is None or not row[0] or not hmac.compare_digest(row[0], _code_hash(code or "")):
                fails.append(now)
                self._claim_fails[device_id] = fails
                raise RegistryError("device id or authorisation code is wrong", 403)
            self._claim_fails.pop(device_id, None)
            if row[1] and row[1] != owner:
                raise RegistryError("device %s is already claimed" % device_id, 409)
            self.db.execute("UPDATE devices SET owner = ?, claimed_at = ? WHERE device_id = ?",
                            (owner, self.clock(), device_id))
        return {"device_id": device_id, "owner": owner}

    def device_status(self, device_id):
        """The latest value of every status item the device reported ({} before its first upload)."""
        row = self.db.execute("SELECT status FROM device_state WHERE device_id = ?", (device_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def device_ids(self):
        with self._lock:
            return [r[0] for r in self.db.execute("SELECT device_id FROM devices ORDER BY device_id")]

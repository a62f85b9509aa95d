"""The reference collector: verifies and stores the terminals' signed uploads (docs/uplink.md)."""
from .configs import QueueError
from .registry import RegistryError
from .store import Collector
from .web import INGEST_PATH, ServerThread, create_app, serve_in_thread


def add_device(db_path, device_id, key=None, note=None):
    """Register a device in the collector database at db_path; returns its key bytes."""
    c = Collector(db_path)
    try:
        return c.add_device(device_id, key, note)
    finally:
        c.close()


__all__ = ["Collector", "create_app", "serve_in_thread", "ServerThread", "INGEST_PATH", "add_device",
           "QueueError", "RegistryError"]

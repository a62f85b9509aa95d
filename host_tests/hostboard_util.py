"""Helpers for tests that run firmware on the host board."""
import asyncio
from pathlib import Path

from meterlink_tools import simclock
from meterlink_tools.hostboard import HostBoard

SCRIPTS = Path(__file__).resolve().parent / "mp_scripts"


def run_virtual(coro_fn, speed=None):
    """Run coro_fn(master) on a virtual-time loop; returns its result."""
    return simclock.run(coro_fn, speed=speed)


def script(name):
    return SCRIPTS / name


__all__ = ["asyncio", "HostBoard", "run_virtual", "script", "SCRIPTS"]

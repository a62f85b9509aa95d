"""Pure protocol code: no I/O, runs under MicroPython and CPython alike."""

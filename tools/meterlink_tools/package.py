"""Writes package.json, the mip package of the firmware library, from the tree.

`mpremote mip install github:ORG/meterlink` (or `mip.install(...)` on a networked board) puts
the `meterlink` package in /lib and fetches umodbus from its own repository.  boot.py, main.py
and the board file are not part of it (they go to /, see docs/tools.md).

    python -m meterlink_tools.package        # rewrite package.json
"""
import json
import re
import sys

from .hostboard import FIRMWARE, ROOT

PACKAGE_JSON = ROOT / "package.json"
DEPS = [["github:brainelectronics/micropython-modbus", "2.3.7"]]   # umodbus, as fetch_mplib.py pins it


def firmware_version():
    text = (FIRMWARE / "meterlink" / "__init__.py").read_text()
    return re.search(r'VERSION = "([^"]+)"', text).group(1)


def library_files():
    root = FIRMWARE / "meterlink"
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."))


def package_json():
    urls = [["meterlink/" + p.relative_to(FIRMWARE / "meterlink").as_posix(),
             p.relative_to(ROOT).as_posix()] for p in library_files()]
    return {"urls": urls, "deps": DEPS, "version": firmware_version()}


def render():
    """package.json with one file per line (diffs stay readable)."""
    pj = package_json()
    urls = ",\n".join("    " + json.dumps(u) for u in pj["urls"])
    return '{\n  "urls": [\n%s\n  ],\n  "deps": %s,\n  "version": %s\n}\n' % (
        urls, json.dumps(pj["deps"]), json.dumps(pj["version"]))


def main():
    PACKAGE_JSON.write_text(render())
    print("wrote %s (%d files)" % (PACKAGE_JSON, len(package_json()["urls"])), file=sys.stderr)


if __name__ == "__main__":
    main()

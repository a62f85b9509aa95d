"""Fetch the firmware's own MicroPython dependencies into build/mplib.

micropython-modbus (import name ``umodbus``) is published on PyPI as an sdist only,
so it is fetched by name and version from the package index, checked against a pinned
sha256, and its ``umodbus/`` folder is unpacked.  The host board puts build/mplib on its
path and ``meterlink deploy`` copies it to the device's /lib.

Standard library only: it runs before anything else is installed.
"""
import hashlib
import io
import os
import re
import shutil
import sys
import tarfile
import urllib.parse
import urllib.request

PACKAGES = [
    # (PyPI name, version, sha256 of the sdist, folder to unpack)
    ("micropython-modbus", "2.3.7",
     "b9351a66af0ff29dd585900e53827a989dedcb02ec63b1041358165089652271", "umodbus"),
]

INDEX = os.environ.get("METERLINK_SIMPLE_INDEX", "https://pypi.org/simple")


def sdist_url(name, version):
    with urllib.request.urlopen("%s/%s/" % (INDEX.rstrip("/"), name), timeout=60) as r:
        page = r.read().decode()
    want = "%s-%s.tar.gz" % (name, version)
    for href in re.findall(r'href="([^"]+)"', page):
        if href.split("#")[0].endswith("/" + want) or href.split("#")[0] == want:
            return urllib.parse.urljoin(INDEX.rstrip("/") + "/%s/" % name, href.split("#")[0])
    raise SystemExit("fetch_mplib: %s not found in %s" % (want, INDEX))


def fetch(dest):
    os.makedirs(dest, exist_ok=True)
    stamp_path = os.path.join(dest, ".stamp")
    wanted = "\n".join("%s==%s %s" % p[:3] for p in PACKAGES)
    if os.path.exists(stamp_path) and open(stamp_path).read() == wanted:
        return
    for name, version, sha256, folder in PACKAGES:
        url = sdist_url(name, version)
        with urllib.request.urlopen(url, timeout=120) as r:
            blob = r.read()
        got = hashlib.sha256(blob).hexdigest()
        if got != sha256:
            raise SystemExit("fetch_mplib: %s %s sha256 mismatch: got %s, pinned %s"
                             % (name, version, got, sha256))
        target = os.path.join(dest, folder)
        shutil.rmtree(target, ignore_errors=True)
        prefix = "%s-%s/%s/" % (name, version, folder)
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile() or not member.name.startswith(prefix):
                    continue
                rel = member.name[len(prefix):]
                if ".." in rel.split("/"):
                    continue
                out = os.path.join(target, rel)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with tar.extractfile(member) as src, open(out, "wb") as dst:
                    dst.write(src.read())
        print("fetch_mplib: %s %s -> %s (sha256 ok)" % (name, version, target))
    with open(stamp_path, "w") as f:
        f.write(wanted)


if __name__ == "__main__":
    fetch(sys.argv[1] if len(sys.argv) > 1 else "build/mplib")

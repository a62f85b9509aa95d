"""Modbus profiles on the terminal: the ones shipped in meterlink/profiles/ and the user's own
in /profiles/ on flash (which win), loaded when a device first needs them."""
import gc
import json
import os

from meterlink.proto import mbprofile

USER_DIR = "profiles"


def builtin_dir():
    import meterlink
    f = getattr(meterlink, "__file__", None) or "/meterlink/__init__.py"
    return f.rsplit("/", 1)[0] + "/profiles"


def _dirs():
    return (USER_DIR, builtin_dir())


def names():
    """Every profile name the terminal can load."""
    out = set()
    for d in _dirs():
        try:
            for n in os.listdir(d):
                if n.endswith(".json"):
                    out.add(n[:-5])
        except OSError:
            pass
    return out


def load(name):
    """The compiled Profile called `name`; OSError if there is none, ProfileError if bad."""
    for d in _dirs():
        try:
            f = open("%s/%s.json" % (d, name))
        except OSError:
            continue
        try:
            try:
                doc = json.load(f)
            except ValueError as e:
                raise mbprofile.ProfileError("profile %s: not valid JSON (%s)" % (name, e))
        finally:
            f.close()
        if doc.get("name") != name:
            raise mbprofile.ProfileError("profile %s: its name field says %r" % (name, doc.get("name")))
        p = mbprofile.parse(doc)
        doc = None
        gc.collect()
        return p
    raise OSError("no profile %r in %s" % (name, " or ".join(_dirs())))

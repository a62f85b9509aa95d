"""The configuration schema the device runs, shared with the host tools and the collector: the
firmware's pure `meterlink.proto.config` and `configschema` modules, imported from the tree."""
import sys

from .hostboard import FIRMWARE

if str(FIRMWARE) not in sys.path:
    sys.path.append(str(FIRMWARE))

from meterlink.proto import config as fwconfig  # noqa: E402  (pure: runs under CPython too)
from meterlink.proto import configschema  # noqa: E402

PROFILES_DIR = FIRMWARE / "meterlink" / "profiles"


def tree_profiles():
    """The Modbus profiles of this working tree (None when it has no profiles folder)."""
    return configschema.profile_names(str(PROFILES_DIR))


__all__ = ["fwconfig", "configschema", "tree_profiles", "PROFILES_DIR"]

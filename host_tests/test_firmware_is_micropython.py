"""Every firmware file is ESP32 MicroPython: it compiles for xtensawin and imports in the unix
port on the host board under the heap limit; a CPython-only construct fails these checks."""
import pytest

from meterlink_tools import fwcheck


@pytest.mark.parametrize("path", fwcheck.firmware_files() + fwcheck.board_files(),
                         ids=lambda p: str(p.relative_to(fwcheck.ROOT)))
def test_compiles_for_esp32(path, tmp_path):
    ok, msg = fwcheck.compile_xtensawin(path, tmp_path)
    assert ok, msg


def test_every_module_imports_on_the_host_board_under_the_heap_limit():
    names = fwcheck.module_names()
    assert "meterlink.app" in names and "meterlink.hardware" in names
    ok, out = fwcheck.check_imports()
    assert ok, out
    for name in names:
        assert "IMPORTED %s " % name in out


CPYTHON_ONLY = {
    "typing_import": "from typing import Optional\nX = 1\n",
    "str_removeprefix": "X = 'meter-1'.removeprefix('meter-')\n",
    "dataclasses_import": "import dataclasses\n",
    "str_casefold": "X = 'kVArh'.casefold()\n",
    "match_statement": "def f(x):\n    match x:\n        case 1:\n            return 'one'\n",
}


@pytest.mark.parametrize("construct", sorted(CPYTHON_ONLY))
def test_a_cpython_only_construct_fails_the_check(construct, tmp_path):
    pkg = tmp_path / "meterlink"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "good.py").write_text("X = 1\n")
    (pkg / "bad.py").write_text(CPYTHON_ONLY[construct])
    ok, out = fwcheck.check_imports(root=tmp_path)
    compiled, _ = fwcheck.compile_xtensawin(pkg / "bad.py", tmp_path)
    assert not (ok and compiled), "MicroPython accepted CPython-only code:\n" + out
    assert "IMPORTED meterlink.good" in out


def test_protocol_modules_also_import_under_cpython():
    """proto/ is pure: host tools may share it (config validation) where one source of truth
    matters."""
    import importlib
    import pkgutil
    import sys
    sys.path.insert(0, str(fwcheck.FIRMWARE))
    try:
        import meterlink.proto as proto
        names = [m.name for m in pkgutil.iter_modules(proto.__path__)]
        assert "config" in names
        for name in names:
            importlib.import_module("meterlink.proto." + name)
    finally:
        sys.path.remove(str(fwcheck.FIRMWARE))
        for mod in [m for m in sys.modules if m == "meterlink" or m.startswith("meterlink.")]:
            del sys.modules[mod]

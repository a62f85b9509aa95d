# Safe mode counts crashed boots, but not the soft resets mpremote makes on every connection.
import os

import cutflash
from meterlink.services import bootguard


class Hw:
    def __init__(self, cause, held=False):
        self.cause = cause
        self.held = held

    def reset_cause(self):
        return self.cause

    def safe_button_held(self):
        return self.held

    def reset_cause_name(self):
        return str(self.cause)


def _in_flash(fn):
    here = os.getcwd()
    cutflash.fresh()
    os.chdir(cutflash.MOUNT)
    try:
        fn()
    finally:
        os.chdir(here)


def test_hard_resets_without_a_healthy_run_lead_to_safe_mode():
    def run():
        assert bootguard.on_boot(Hw(1), 3) is None
        for _ in range(2):
            assert bootguard.on_boot(Hw(2), 3) is None
        assert "3 boots in a row" in bootguard.on_boot(Hw(2), 3)
    _in_flash(run)


def test_soft_resets_do_not_count():
    def run():
        assert bootguard.on_boot(Hw(1), 3) is None
        for _ in range(10):
            assert bootguard.on_boot(Hw(5), 3) is None
        assert bootguard.count == 1
        bootguard.on_boot(Hw(2), 3)
        bootguard.on_boot(Hw(2), 3)
        assert bootguard.on_boot(Hw(5), 3) is None          # still 3 unconfirmed boots
        assert bootguard.on_boot(Hw(2), 3) is not None
        assert bootguard.on_boot(Hw(5), 3) is not None      # a soft reset keeps safe mode
        bootguard.confirm()
        assert bootguard.on_boot(Hw(2), 3) is None
    _in_flash(run)

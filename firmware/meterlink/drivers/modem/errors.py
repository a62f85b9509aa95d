"""What can go wrong with the modem, as one small hierarchy; `reason` is the word reports use."""


class ModemError(Exception):
    reason = "modem"

    def __init__(self, msg="", detail=None):
        super().__init__(msg or self.reason)
        self.detail = detail


class NoSim(ModemError):
    reason = "no_sim"


class SimLocked(ModemError):
    """The SIM wants a PIN (or PUK); the terminal never enters one."""
    reason = "sim_pin"


class NoNetwork(ModemError):
    """Not registered (searching, no coverage, or registration denied)."""
    reason = "no_network"


class PdpError(ModemError):
    """The data session (PDP context / bearer) could not be opened or dropped."""
    reason = "pdp"


class DnsError(ModemError):
    reason = "dns"


class ConnectError(ModemError):
    """The data session is up but the server could not be reached."""
    reason = "connect"


class HttpTimeout(ModemError):
    reason = "http_timeout"


class HttpFailed(ModemError):
    """Another error of the modem's HTTP stack (detail: its code)."""
    reason = "http"


class ModemHung(ModemError):
    """The modem stopped answering AT commands (or lost power)."""
    reason = "modem_hung"


class ModemReset(ModemError):
    """The modem rebooted while a request was under way."""
    reason = "modem_reset"


class AtTimeout(Exception):
    """No final result before the command's deadline."""


class AtError(Exception):
    """The modem answered ERROR / +CME ERROR / +CMS ERROR."""

    def __init__(self, command, result):
        super().__init__("%s -> %s" % (command, result.final))
        self.command = command
        self.result = result

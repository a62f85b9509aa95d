"""The cellular modem: the AT engine and one adapter per SIMCom model."""


def adapter(model, at):
    """The adapter for a board's modem model ("sim7600" or "sim800")."""
    if model == "sim800":
        from meterlink.drivers.modem.sim800 import Sim800
        return Sim800(at)
    if model == "sim7600":
        from meterlink.drivers.modem.sim7600 import Sim7600
        return Sim7600(at)
    raise ValueError("unknown modem model %r" % (model,))

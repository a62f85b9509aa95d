# Host board script for `meterlink discover`: the firmware's discovery on the RS-485 port.
from meterlink.drivers import iecdiscover

iecdiscover.main("rs485")

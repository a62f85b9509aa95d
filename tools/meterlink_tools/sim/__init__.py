"""Simulators: serial wires, meters, Modbus devices, the modem; CPython only, independent of the firmware."""

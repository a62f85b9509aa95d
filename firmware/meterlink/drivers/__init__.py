"""Device drivers: meter sessions, the Modbus master, the modem."""

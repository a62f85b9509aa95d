"""Long-lived services: poller, spool, uplink, config, LEDs, watchdog, clock."""

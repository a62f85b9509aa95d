"""Serial ports: UART streams with deadlines and inter-byte gaps, the RS-485 half-duplex port."""

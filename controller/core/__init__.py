"""The pure core: (desired, observed, now) -> Plan; gates, evidence, windows, soak."""

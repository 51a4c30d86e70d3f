"""Local stand-ins for the outside world, on loopback only: for the demo, the tests, the benchmarks.

- `activecampaign`: an ActiveCampaign v3 API server with real shapes and limits, and synthetic
  accounts (generated or loaded from fixtures).
- `mailworld`: DNS and SMTP servers that play the domains of a mail-world YAML file.

No product module imports this package; only the CLI, the benchmarks and the tests do.
"""

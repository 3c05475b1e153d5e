//! kasim's harness: turns scenario files into simulated runs and metrics.

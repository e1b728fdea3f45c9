"""The benchmark harness (make bench): the deployed targets measured with pgbench, as a report."""

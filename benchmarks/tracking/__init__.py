"""Helpers of benchmarks/tracking_vs_mlflow.py: workload, servers, HTTP adapters, process figures, report."""

"""Pieces of benchmarks/train_throughput.py: the reference pipelines, the engine's pipelines, packing."""

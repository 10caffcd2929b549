"""FastAPI service: stores experiments, runs, metrics and artifacts; enqueues runs for the workers."""

"""The training engine: a plain PyTorch library driven by the run spec (no Celery, no FastAPI)."""

"""Celery worker and the training engine (worker.training, a plain PyTorch library)."""

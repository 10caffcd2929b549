"""Artifact paths and kinds the worker writes and the API guards: one spelling for both sides."""

RESUME_DIR = "resume"  # a run's resumable checkpoint lives here; only its holding worker (or admin) writes it
RESUME_ARTIFACT = f"{RESUME_DIR}/checkpoint.pt"
RESUME_KIND = "resume"

"""The one module of the backend that names methods.

Everything else asks the catalog's capability flags through these helpers, so adding a method to the catalog
needs no change here. The two names below are configuration, not capabilities: the rows reports compare against.
"""

from __future__ import annotations

from xclab.catalog import METHODS, MethodInfo

# The plain baseline the cost view measures a method's gain against ("gain over ERM").
BASELINE_METHOD = "erm"
# The distillation row gap reduction is measured against (a sweep's temperature-1 cell stands in for it).
KD_REFERENCE_METHOD = "kd"


def method_info(name: str) -> MethodInfo | None:
    """The catalog entry of a stored run's method (None for a method the catalog no longer lists)."""
    return METHODS.get(name)


def trains_generator(method: str) -> bool:
    """Whether runs of this method produce a generator (for XCL-GAN students), not a teacher or student."""
    info = method_info(method)
    return info is not None and info.trains_generator


def transfer_set(method: str) -> str | None:
    """Where a distillation method's targets come from ("original" or "extended"); None for the others."""
    info = method_info(method)
    return info.transfer_set if info else None


def generator_methods() -> list[str]:
    """The methods whose runs are generators, for messages that say what a generator run is."""
    return [m.name for m in METHODS.values() if m.trains_generator]


# The methods the supplement's tables are laid out by (`backend.reports.supplement_specs`): its rows and columns
# as printed in the paper, not capabilities.
LABEL_SMOOTHING, MIXUP, CUTMIX, XCL_MIX, XCL_GAN = "ls", "mixup", "cutmix", "xcl-mix", "xcl-gan"

"""Deterministic demo data: industrial automation and medical devices, in Chinese and English.

``load_demo`` writes the data set into an empty database; ``build_plan`` and ``Renderer``
produce the same rows without a database (for tests and other tools).
"""

from rapport.demo.generate import DEFAULT_SEED, Plan, Renderer, Volumes, build_plan
from rapport.demo.load import LoadObserver, LoadResult, load_demo
from rapport.demo.names import DEMO_EMAIL, DEMO_PASSWORD, DEMO_ZH_EMAIL

__all__ = [
    "DEFAULT_SEED",
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "DEMO_ZH_EMAIL",
    "LoadObserver",
    "LoadResult",
    "Plan",
    "Renderer",
    "Volumes",
    "build_plan",
    "load_demo",
]

"""The load run and the benchmark import what the package has now: a module moved in the package
fails here, in the suite, rather than minutes later when CI runs them."""

from __future__ import annotations

import importlib

import pytest

SCRIPTS = [
    "load.run",
    "load.checks",
    "load.chaos",
    "load.traffic",
    "load.service_log",
    "bench.run",
    "bench.servers",
    "bench.dataset",
    "bench.report",
    "bench.runner",
    "bench.measure",
    "bench.streams",
    "bench.plot",
    "bench.reference_app",
]


@pytest.mark.parametrize("module", SCRIPTS)
def test_the_load_and_benchmark_scripts_import(module):
    importlib.import_module(module)

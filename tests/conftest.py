"""Shared pytest configuration: the ``gpu`` marker skips without CUDA; headless plotting;
one torch CPU thread per test."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run every test with one torch CPU thread, then restore the count.

    The tests' tensors are small, and on a machine whose cores are shared torch's default (a
    thread per core) is slower: tests/test_sdm_agreement.py took 6.9-8.8 s with one thread
    and 13.0-14.1 s with two (2-core machine, another process busy). Same reason as the
    ``num_threads = 1`` default of the figure commands (see ``mapping.runner.torch_threads``).
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def small_cerebellum_run(tmp_path_factory, worker_id):
    """One finished ``memcircuits cerebellum`` run of ``small_runs.SMALL_CEREBELLUM`` (seed
    0), made once per session through the command line and shared by the tests that need
    such a run (tests/test_cerebellum.py, tests/test_compare.py, tests/test_run_ownership.py).

    With pytest-xdist the workers share one run: the first to need it makes it in the
    session's common temporary directory under a lock, the others wait and reuse it.

    Read-only: a test that writes into a run, or whose check depends on the directory's
    files, works on a copy (``shutil.copytree``, which keeps every file as it is).
    """
    import fcntl

    from small_runs import SMALL_CEREBELLUM

    from mapping.cli import main

    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # xdist: the parent of the workers' directories is common
        shared = shared.parent
    out = shared / "small_cerebellum" / "run"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(shared / "small_cerebellum.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes
        if not (out / "metrics.json").exists():
            assert main(["cerebellum", "--out", str(out), *SMALL_CEREBELLUM]) == 0
    return out

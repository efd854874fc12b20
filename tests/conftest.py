"""Shared by every test folder: the fold check (tests/fold_check.py) as a fixture.

`fold_check` watches every Run the test makes, here or in a process it starts (through
tests/fold_site on PYTHONPATH), and when the test's body has passed it checks, from a fresh
process, that the journal's fold equals what every app had and showed. The TUI and the
integration folders use it in every test (their conftest.py asks for it, autouse); the
check runs in the test's call phase, before any fixture is torn down (a database dropped,
a server stopped), and fails the test itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.fold_check import DUMP_ENV, SITE, FoldWatch


@pytest.fixture
def fold_check(request: pytest.FixtureRequest,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[FoldWatch]:
    # under /tmp, writable by all (sticky): the pairing test's processes run as other users
    dump_dir = Path(tempfile.mkdtemp(prefix="runbook-foldcheck-", dir="/tmp"))
    dump_dir.chmod(0o1777)
    watch = FoldWatch(dump_dir)
    watch.install(monkeypatch.setattr)
    monkeypatch.setenv(DUMP_ENV, str(dump_dir))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", f"{SITE}{os.pathsep}{path}" if path else str(SITE))
    request.node.fold_watch = watch
    try:
        yield watch
    finally:
        shutil.rmtree(dump_dir, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    result = yield  # raises if the test failed: then there is nothing to add
    watch = getattr(item, "fold_watch", None)
    if watch is not None:
        watch.verify()
    return result

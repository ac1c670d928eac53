"""Test files in decreasing order of their duration in the previous run, so that ``pytest -n N --dist loadfile``
hands the longest files out first and no long file starts last (the tests of a file keep their order).

The durations (seconds, setup + call + teardown summed per file) are kept in pytest's cache
(``.pytest_cache``) under ``CACHE_KEY``; for a file not in the cache (a fresh clone, CI, ``-p no:cacheprovider``)
the duration recorded in ``file_durations.json`` beside this file is used: a two-core run, to be refreshed from
the cache when files get much longer or shorter. Files in neither keep their collection order, after the others.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

CACHE_KEY = "lesion-pipeline/file-durations"
RECORDED = Path(__file__).with_name("file_durations.json")

_durations: defaultdict[str, float] = defaultdict(float)


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist (>= 3.6) would otherwise sort the files by their number of tests for --dist loadfile/loadscope,
    # which undoes this order
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cached: dict[str, float] = cache.get(CACHE_KEY, {}) if (cache := getattr(config, "cache", None)) else {}
    previous = {**json.loads(RECORDED.read_text()), **cached} if RECORDED.is_file() else cached
    if previous:
        items.sort(key=lambda item: -previous.get(_file(item.nodeid), 0.0))  # a stable sort: files stay whole


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _durations[_file(report.nodeid)] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or getattr(config, "cache", None) is None or not _durations:
        return  # an xdist worker: the controller receives every report and writes the cache
    if session.testsfailed == 0 and not config.option.keyword and not config.option.markexpr:
        kept = config.cache.get(CACHE_KEY, {})
        config.cache.set(CACHE_KEY, {**kept, **_durations})

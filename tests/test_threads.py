"""The thread plumbing the analysis shares: the prefetching iterator."""

from __future__ import annotations

import contextlib
import threading

import pytest

from vcam.threads import prefetched


def test_prefetched_items_come_in_order_from_another_thread():
    made_on = []

    def items():
        for i in range(50):
            made_on.append(threading.current_thread().name)
            yield i

    assert list(prefetched(items(), depth=3)) == list(range(50))
    assert set(made_on) == {"vcam-prefetch"}


def test_what_making_an_item_raises_is_raised_to_the_consumer_after_the_items_before_it():
    def items():
        yield 1
        raise ValueError("damaged frame")

    got = []
    with pytest.raises(ValueError, match="damaged frame"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1]


def test_closing_early_stops_and_joins_the_thread():
    def endless():
        while True:
            yield 0

    with contextlib.closing(prefetched(endless(), depth=2)) as items:
        assert next(items) == 0
    assert not [t for t in threading.enumerate() if t.name == "vcam-prefetch"]

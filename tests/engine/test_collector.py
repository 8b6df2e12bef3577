"""The collector pause: nested and failing uses leave the collector as they found it."""
from __future__ import annotations

import gc

import pytest

from engine.collector import paused, pausing, settle


def test_nested_pauses_resume_once_at_the_outermost_end() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner end does not resume it
    assert gc.isenabled()


def test_a_failure_inside_still_resumes() -> None:
    @pausing
    def boom() -> None:
        assert not gc.isenabled()
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        boom()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_garbage_made_while_paused_is_still_collected() -> None:
    import weakref

    class Cell:
        pass

    with paused():
        a, b = Cell(), Cell()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        alive = weakref.ref(a)
        del a, b
    assert alive() is not None
    gc.collect()
    assert alive() is None



def test_settle_collects_the_young_generations_when_a_pause_left_many() -> None:
    gc.disable()  # as a pause leaves it: many new objects, no collection yet
    kept = [[] for _ in range(1000)]
    collections = gc.get_stats()[1]["collections"]
    gc.enable()
    settle(least=1000)
    assert gc.get_stats()[1]["collections"] == collections + 1
    assert len(kept) == 1000

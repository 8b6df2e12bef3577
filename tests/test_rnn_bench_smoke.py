"""The control-flow bench row cannot rot: at 5 steps, untimed, every implementation that is
installed agrees with the hand-written numpy BPTT floor, and the section renders."""
from __future__ import annotations

from bench import rnn_bench


def test_rnn_row_agrees_with_the_floor_and_renders() -> None:
    r = rnn_bench.run(lambda _: None, steps=5, timed=False)
    for label in ("ours (compute_gradients)", "ours (Plan.run)"):
        assert r.outcomes[label].note == "" and r.outcomes[label].max_rel_err < 1e-10
    for label, o in r.outcomes.items():
        assert o.note == "" or o.note.startswith(("missing", "tensorflow ")), f"{label}: {o.note}"
    text = rnn_bench.section(r)
    assert "5-step tanh RNN" in text and "ours (Plan.run)" in text


def test_a_wider_rnn_agrees_with_the_floor_and_renders_as_its_own_table() -> None:
    r = rnn_bench.run(lambda _: None, steps=6, timed=False, dims=(3, 5, 2))
    for label in ("ours (compute_gradients)", "ours (Plan.run)"):
        assert r.outcomes[label].note == "" and r.outcomes[label].max_rel_err < 1e-10
    text = rnn_bench.section(r)
    assert "over 6 steps, batch 3, 5 inputs, 2 units" in text and "ours (Plan.run)" in text

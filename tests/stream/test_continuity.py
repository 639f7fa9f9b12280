"""stream.continuity: which delivered offsets mean records were skipped."""

from __future__ import annotations

from stream.continuity import MAX_ATTEMPTS, RETRY_AFTER_S, Continuity, Gap


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(c: Continuity, offsets, partition: int = 0, generation: int = 1) -> list[Gap]:
    return [g for o in offsets if (g := c.observe(generation, partition, o)) is not None]


def test_in_order_and_rereads_are_not_gaps() -> None:
    c = Continuity()
    assert feed(c, range(10, 20)) == []
    assert feed(c, range(5, 25)) == []  # a seek back to the committed offset: duplicates, fine
    assert feed(c, [7], partition=3) == []  # first record of another partition: anything goes


def test_a_jump_asks_once_for_the_first_missing_offset_then_heals() -> None:
    clock = Clock()
    c = Continuity(clock=clock)
    feed(c, range(0, 391))
    assert feed(c, [395, 396, 397]) == [Gap(0, 391, 395, give_up=False)]  # buffered ones: no new seek
    assert feed(c, range(391, 400)) == []  # the re-read
    clock.now += 60
    assert feed(c, [400, 401]) == []  # healed: in order again


def test_a_rebalance_starts_afresh() -> None:
    c = Continuity()
    feed(c, range(0, 100), generation=1)
    assert feed(c, [250, 251], generation=2) == []  # the new generation starts where the commit was


def test_a_gap_that_never_fills_is_accepted_after_a_few_seeks() -> None:
    clock = Clock()
    c = Continuity(clock=clock)
    feed(c, range(0, 50))
    gaps = feed(c, [60])
    for _ in range(MAX_ATTEMPTS + 1):
        clock.now += RETRY_AFTER_S + 1
        gaps += feed(c, [61])
    assert [g.give_up for g in gaps] == [False] * MAX_ATTEMPTS + [True]
    assert all(g.first_missing == 50 for g in gaps)
    assert feed(c, [62, 63]) == []  # going on from there

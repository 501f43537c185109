"""rules/groups.py: a rule's group check by numbers is the same test as by atom sets."""

from __future__ import annotations

import random

from rules.groups import GroupNumbers, groups_found


def test_subset_of_found_groups_is_every_group_present() -> None:
    rng = random.Random(5)
    groups = [frozenset(rng.sample(range(40), rng.randint(0, 6))) for _ in range(60)]
    numbers = GroupNumbers()
    checks = [tuple(rng.sample(groups, rng.randint(0, 4))) for _ in range(80)]
    ids = [numbers.number(check) for check in checks]
    by_atom = numbers.by_atom()
    for _ in range(200):
        present = set(rng.sample(range(40), rng.randint(0, 12)))
        found = groups_found(by_atom, present)
        for check, numbered in zip(checks, ids, strict=True):
            assert (numbered <= found) == (not any(map(present.isdisjoint, check)))


def test_the_same_group_gets_one_number() -> None:
    numbers = GroupNumbers()
    first = numbers.number([frozenset({1, 2}), frozenset({3})])
    again = numbers.number([frozenset({2, 1})])
    assert again <= first
    assert len(first) == 2
    assert numbers.by_atom() == {1: (0,), 2: (0,), 3: (1,)}
    assert groups_found(numbers.by_atom(), {3, 9}) == {1}
    assert groups_found(numbers.by_atom(), set()) == set()

"""Pure ranking: fusion, normalisation, the score's parts, and judging a new memory's neighbour."""

from __future__ import annotations

import pytest

from memory.ranking import (
    DAY_S,
    Candidate,
    Entry,
    RankingConfig,
    Weights,
    frequency,
    judge,
    merge_clusters,
    min_max,
    rank,
    recency,
    richer,
    rotation,
    rrf,
    shape,
)

NOW = 1_767_225_600.0


def cand(i: int, cosine: float, age_days: float = 0.0, importance: float = 0.5,
         recalls: int = 0, last_recalled: float | None = None, bm25: float = 0.0) -> Candidate:
    return Candidate(i, cosine, NOW - age_days * DAY_S, importance, recalls, last_recalled, bm25)


@pytest.mark.parametrize(("rankings", "expected"), [
    ([[1, 2, 3]], [1, 2, 3]),
    ([[1, 2, 3], [3, 2, 1]], [1, 3, 2]),  # 1/61 + 1/63 > 2/62; ties keep first appearance
    ([[1, 2], [2, 3]], [2, 1, 3]),         # found by both beats found once
    ([[], [4, 5]], [4, 5]),
    ([[], []], []),
])
def test_rrf_orders_by_reciprocal_rank_sums(rankings: list[list[int]],
                                            expected: list[int]) -> None:
    assert rrf(rankings) == expected


@pytest.mark.parametrize(("values", "expected"), [
    ([], []),
    ([0.3], [1.0]),
    ([0.5, 0.5], [1.0, 1.0]),
    ([0.2, 0.4, 0.6], [0.0, 0.5, 1.0]),
    ([0.9, 0.1], [1.0, 0.0]),
])
def test_min_max(values: list[float], expected: list[float]) -> None:
    assert min_max(values) == pytest.approx(expected)


@pytest.mark.parametrize(("age_days", "half_life", "expected"), [
    (0, 180, 1.0), (180, 180, 0.5), (360, 180, 0.25), (-5, 180, 1.0), (30, 30, 0.5),
])
def test_recency_halves_every_half_life(age_days: float, half_life: float,
                                        expected: float) -> None:
    assert recency(NOW - age_days * DAY_S, NOW, half_life) == pytest.approx(expected)


@pytest.mark.parametrize(("count", "expected"), [(0, 0.0), (-1, 0.0), (50, 1.0), (500, 1.0)])
def test_frequency_saturates(count: int, expected: float) -> None:
    assert frequency(count, 50) == pytest.approx(expected)


def test_frequency_rises_with_recalls() -> None:
    assert 0 < frequency(1, 50) < frequency(5, 50) < frequency(20, 50) < 1


@pytest.mark.parametrize(("count", "since_days", "expected"), [
    (0, 0, 0.0), (10, 0, 0.05), (5, 0, 0.025), (20, 0, 0.05), (10, 1, 0.025), (10, 3, 0.00625),
])
def test_rotation_takes_a_little_from_memories_recalled_often_and_lately(
        count: int, since_days: float, expected: float) -> None:
    last = NOW - since_days * DAY_S if count else None
    assert rotation(count, last, NOW, RankingConfig()) == pytest.approx(expected)


def test_rank_puts_the_most_similar_first_when_all_else_is_equal() -> None:
    ranked = rank([cand(1, 0.2), cand(2, 0.8), cand(3, 0.5)], NOW)
    assert [s.id for s in ranked] == [2, 3, 1]
    assert [s.similarity for s in ranked] == pytest.approx([1.0, 0.5, 0.0])


def test_the_score_is_the_weighted_sum_of_its_parts() -> None:
    config = RankingConfig()
    [best, worst] = rank([cand(1, 0.9, importance=1.0, bm25=4.0), cand(2, 0.1, age_days=180,
                                                                         importance=0.0)], NOW)
    w = config.weights
    assert best.score == pytest.approx(w.similarity + w.recency + w.importance + w.lexical)
    assert worst.score == pytest.approx(w.recency * 0.5)


@pytest.mark.parametrize(("gap", "older_wins"), [
    (0.5, True),    # a clearly better match survives being a year older
    (0.05, False),  # a near-tie goes to the fresh one
])
def test_relevance_outweighs_recency_unless_nearly_tied(gap: float, older_wins: bool) -> None:
    old = cand(1, 0.5 + gap, age_days=365)
    fresh = cand(2, 0.5)
    floor = cand(3, 0.0, age_days=365)
    first = rank([old, fresh, floor], NOW)[0].id
    assert (first == 1) is older_wins


def test_an_exact_keyword_match_beats_a_look_alike() -> None:
    """'INV-2291' and 'INV-2919' embed almost alike; BM25 tells them apart."""
    wanted = cand(1, 0.80, age_days=60, bm25=9.0)
    look_alike = cand(2, 0.81, age_days=1, bm25=2.0)
    other = cand(3, 0.30)
    assert rank([wanted, look_alike, other], NOW)[0].id == 1


def test_frequency_is_credit_for_being_useful_over_time() -> None:
    used = cand(1, 0.80, recalls=30, last_recalled=NOW - 30 * DAY_S)
    unused = cand(2, 0.81)
    floor = cand(3, 0.0)
    assert rank([used, unused, floor], NOW)[0].id == 1


def test_rotation_reorders_a_near_tie_but_not_a_clear_winner() -> None:
    tired = cand(1, 0.80, recalls=30, last_recalled=NOW)
    fresh = cand(2, 0.79)
    floor = cand(3, 0.0)
    assert rank([tired, fresh, floor], NOW)[0].id == 2
    clear = cand(1, 0.95, recalls=30, last_recalled=NOW)
    assert rank([clear, fresh, floor], NOW)[0].id == 1


def test_weights_can_be_turned_off() -> None:
    config = RankingConfig(weights=Weights(recency=0.0, importance=0.0, frequency=0.0,
                                           lexical=0.0))
    ranked = rank([cand(1, 0.5, importance=1.0), cand(2, 0.9, age_days=900)], NOW, config)
    assert [s.id for s in ranked] == [2, 1]
    assert ranked[1].score == 0.0


def test_rank_of_nothing_is_empty() -> None:
    assert rank([], NOW) == []


@pytest.mark.parametrize(("text", "values", "identifiers"), [
    ("The dentist is at 3pm on Friday", {"3pm", "friday"}, set()),
    ("Invoice INV-2291 was paid", set(), {"inv-2291"}),
    ("Marta's phone number is +386 41 555 210.", {"+38641555210"}, set()),
    ("Room 101 is on floor 1", set(), {"101", "1"}),
    ("The budget was raised to €2,400 a quarter", {"€2,400"}, set()),
    ("The team has 5 people", {"5"}, set()),
    ("Flight LH 400 departs at 10:00", {"10:00"}, {"400"}),
])
def test_shape_tells_values_from_identifiers(text: str, values: set[str],
                                             identifiers: set[str]) -> None:
    s = shape(text)
    assert s.values == values
    assert s.identifiers == identifiers


@pytest.mark.parametrize(("new", "old", "cosine", "verdict"), [
    # a value replaced, all else equal: the new fact supersedes the old
    ("The dentist appointment is now on Thursday at 11am.",
     "The dentist appointment is on Tuesday at 3pm.", 0.93, "contradiction"),
    ("Alice's phone number is 555-9876", "Alice's phone number is 555-1234", 0.98,
     "contradiction"),
    ("The launch is planned for June", "The launch is planned for May", 0.89, "contradiction"),
    ("The budget was raised to $55,000", "The budget is $40,000", 0.87, "contradiction"),
    # different identifiers or names: two things, not one changed
    ("Invoice INV-2919 from Acme was paid", "Invoice INV-2291 from Acme was paid", 0.96,
     "distinct"),
    ("Bob's phone number is 555-9876", "Alice's phone number is 555-1234", 0.96, "distinct"),
    ("Room 102 is on floor 1", "Room 101 is on floor 1", 0.97, "distinct"),
    ("Note 1: buy 1 apples", "Note 0: buy 0 apples", 0.97, "distinct"),
    # other words changed: too unsure, both stay
    ("I prefer coffee in the morning", "I prefer tea in the morning", 0.81, "distinct"),
    ("I live in Munich", "I live in Berlin", 0.85, "distinct"),
    # a value added, none replaced: not a contradiction
    ("The standup is at 9:30 on Mondays", "The standup is on Mondays", 0.9, "distinct"),
    # near-duplicates
    ("Remember to water the plants on Sunday.", "Remember to water the plants on Sunday",
     0.98, "duplicate"),
    ("The standup is at 9:30 in room B", "The standup is at 9:30", 0.96, "duplicate"),
    ("The standup is at 9:30 in room B", "The standup is at 9:30", 0.90, "distinct"),
    # too far apart, or another category
    ("The dentist is on Thursday", "The dentist is on Tuesday", 0.70, "distinct"),
])
def test_judge(new: str, old: str, cosine: float, verdict: str) -> None:
    assert judge(new, old, cosine, same_category=True) == verdict


def test_judge_needs_the_same_category() -> None:
    assert judge("The dentist is at 4pm", "The dentist is at 3pm", 0.99,
                 same_category=False) == "distinct"


@pytest.mark.parametrize(("new", "old", "expected"), [
    ("The standup is at 9:30 in room B", "The standup is at 9:30", True),
    ("The standup is at 9:30", "The standup is at 9:30 in room B", False),
    ("The standup is at 9:30.", "the standup is at 9:30", False),
])
def test_richer(new: str, old: str, expected: bool) -> None:
    assert richer(new, old) is expected


def test_merge_clusters_keeps_the_owners_richest_memory() -> None:
    entries = {
        1: Entry(1, "fact", "The standup is at 9:30", 0.4, "command"),
        2: Entry(2, "fact", "The standup is at 9:30 in room B", 0.6, "command"),
        3: Entry(3, "fact", "The standup is at 9:30 in room B on Meet", 0.9, "data"),
        4: Entry(4, "fact", "Invoice INV-2291 was paid", 0.5, "command"),
        5: Entry(5, "fact", "Invoice INV-2919 was paid", 0.5, "command"),
    }
    pairs = [(1, 2, 0.97), (2, 3, 0.96), (4, 5, 0.99), (1, 4, 0.2)]
    assert merge_clusters(pairs, entries) == [(2, [1, 3], 0.9)]


def test_merge_clusters_ignores_pairs_of_unknown_or_unlike_memories() -> None:
    entries = {1: Entry(1, "fact", "Water the plants", 0.5, "command"),
               2: Entry(2, "procedure", "Water the plants", 0.5, "command")}
    assert merge_clusters([(1, 2, 0.99), (1, 9, 0.99)], entries) == []

"""Prompt-lookup drafts, acceptance rates and how many drafts a step verifies
(modelport.builtin.llama.speculation), and what warm-up measures a step to cost (modelport.builtin.llama.engine)."""

from __future__ import annotations

import llama_cpp
import pytest

from modelport.builtin.llama.engine import LlamaEngine
from modelport.builtin.llama.speculation import (
    ATTENTION_TILE,
    Acceptance,
    Offer,
    PromptLookup,
    StepCost,
    match_prior,
    plan,
    split,
)

# A step whose fixed cost is six tokens' (a model that reads its weights slower than it computes); on the
# project's two cores the 0.5B model's step costs less than one token's, which leaves `plan` little room.
COST = StepCost(per_step=0.015, per_token=0.0025)


def test_a_draft_is_what_followed_the_last_tokens_in_the_prompt() -> None:
    lookup = PromptLookup([1, 2, 3, 4, 5, 6, 7, 8, 9])
    lookup.extend([20, 21, 3, 4])
    assert lookup.draft(3) == [5, 6, 7]
    assert lookup.draft(10) == [5, 6, 7, 8, 9, 20, 21, 3, 4]  # up to the sequence's own end


def test_no_draft_without_a_match_or_room() -> None:
    lookup = PromptLookup([1, 2, 3, 4])
    lookup.extend([9, 8])
    assert lookup.draft(4) == []
    lookup.extend([1, 2])
    assert lookup.draft(0) == []
    assert PromptLookup([5]).draft(4) == []


def test_the_longest_match_wins_over_a_more_recent_short_one() -> None:
    # "7 8" occurs twice; only the first occurrence is preceded by "5 6" as the sequence's end is.
    lookup = PromptLookup([5, 6, 7, 8, 100, 101, 0, 7, 8, 200, 201])
    lookup.extend([5, 6, 7, 8])
    assert lookup.draft(2) == [100, 101]


def test_on_a_tie_the_most_recent_place_wins() -> None:
    lookup = PromptLookup([3, 4, 10, 3, 4, 11])
    lookup.extend([3, 4])
    assert lookup.draft(1) == [11]


def test_a_draft_continues_from_where_the_last_one_was_kept_and_searches_again_after_a_miss() -> None:
    function = list(range(100, 140))
    lookup = PromptLookup([*function, 1, 2])
    lookup.extend(function[:4])
    assert lookup.draft(3) == function[4:7]
    lookup.extend(function[4:7])  # all kept
    assert lookup.draft(3) == function[7:10]
    lookup.extend([function[7], 999])  # the model changed a token here
    assert lookup.draft(3) == []
    lookup.extend(function[10:12])  # and went on copying after it
    assert lookup.draft(3) == function[12:15]


def test_the_match_behind_a_draft_grows_while_the_sequence_follows_it() -> None:
    function = list(range(100, 140))
    lookup = PromptLookup([7, *function])
    lookup.extend([8, *function[:2]])  # found by its last two tokens only: the ones before differ
    assert lookup.draft(2) == function[2:4]
    assert lookup.match == 2
    lookup.extend(function[2:6])
    assert lookup.draft(2) == function[6:8]
    assert lookup.match == 6
    lookup.extend([999])
    assert lookup.draft(2) == []
    assert lookup.match == 0


def test_acceptance_starts_from_the_match_length_and_follows_the_sequences_record() -> None:
    acceptance = Acceptance()
    # Before any record: a short match is a guess, a long one a copy in progress.
    assert acceptance.rate(2) == pytest.approx(match_prior(2))
    assert acceptance.rate(24) == pytest.approx(match_prior(24))
    assert match_prior(2) < 0.3 < 0.75 < match_prior(24)
    # Two failed drafts are enough to stop believing even a long match.
    acceptance.record(accepted=0, tried=1)
    acceptance.record(accepted=0, tried=1)
    assert acceptance.rate(24) < 0.5
    for _ in range(10):
        acceptance.record(accepted=8, tried=8)
    assert acceptance.rate(4) > 0.9
    for _ in range(20):
        acceptance.record(accepted=0, tried=1)
    low = acceptance.rate(24)
    assert low < match_prior(24) / 2
    for _ in range(200):
        acceptance.rest()
    assert low < acceptance.rate(24)
    assert acceptance.rate(24) == pytest.approx(match_prior(24), abs=0.05)


def offers(*rates: float, available: int = 16) -> list[Offer]:
    return [Offer(seq_id, available, rate) for seq_id, rate in enumerate(rates)]


def generating(n: int) -> dict[int, int]:
    return dict.fromkeys(range(n), 1)


def test_plan_gives_long_drafts_to_sequences_that_accept_and_none_where_they_do_not_pay() -> None:
    lengths = plan(offers(0.95, 0.6, 0.05), fed=generating(3), base_yield=3, cost=COST, budget=48, n_ubatch=512)
    good, fair, poor = lengths
    assert good >= fair
    assert good > 0
    assert poor == 0
    assert plan(offers(0.1), fed=generating(1), base_yield=1, cost=COST, budget=48, n_ubatch=512) == [0]


def test_plan_drafts_less_where_the_step_already_yields_more_tokens() -> None:
    # Beside seven other generating sequences a draft token delays eight, not one.
    alone = plan(offers(0.8), fed=generating(1), base_yield=1, cost=COST, budget=48, n_ubatch=512)[0]
    among = plan(offers(0.8), fed=generating(8), base_yield=8, cost=COST, budget=48, n_ubatch=512)[0]
    assert alone > among


# The project's two cores (bench/draft_cost.py): a step costs less than a token with logits, and each
# cached token adds 7.3 us to a token that attends to it one query at a time, 2.5 us in a tile.
CPU = StepCost(per_step=0.011, per_token=0.0116, per_context=7.3e-6, per_context_tiled=2.5e-6)


def test_a_step_costs_each_token_its_attention_one_query_at_a_time_or_in_a_tile() -> None:
    contexts = {0: 1000, 1: 1000}
    one = CPU.seconds({0: 1}, 512, contexts)
    assert one == pytest.approx(0.011 + 0.0116 + 1000 * 7.3e-6)
    # A tile of 64 costs less than 63 tokens verified one query at a time.
    assert CPU.seconds({0: 64}, 512, contexts) < CPU.seconds({0: 63}, 512, contexts)
    # Two sequences of 64: one ubatch, each a tile; 64 and 1: the 64 are split 1 + 63, none in a tile.
    assert CPU.seconds({0: 64, 1: 64}, 512, contexts) == pytest.approx(0.011 + 128 * (0.0116 + 1000 * 2.5e-6))
    assert CPU.seconds({0: 64, 1: 1}, 512, contexts) == pytest.approx(2 * 0.011 + 65 * (0.0116 + 1000 * 7.3e-6))


def test_a_sequence_that_copies_verifies_a_whole_attention_tile() -> None:
    copying = plan(
        offers(0.99, available=128), fed=generating(1), base_yield=1, cost=CPU, budget=256, n_ubatch=512,
        contexts={0: 1000},
    )  # fmt: skip
    assert copying == [ATTENTION_TILE - 1]
    # One whose drafts often fail drafts a few, verified one query at a time.
    guessing = plan(
        offers(0.8, available=128), fed=generating(1), base_yield=1, cost=CPU, budget=256, n_ubatch=512,
        contexts={0: 1000},
    )  # fmt: skip
    assert 0 < guessing[0] < ATTENTION_TILE // 2


def test_four_copying_sequences_verify_a_tile_each_in_one_ubatch() -> None:
    contexts = dict.fromkeys(range(4), 1200)
    lengths = plan(
        offers(*[0.99] * 4, available=128), fed=generating(4), base_yield=4, cost=CPU, budget=256, n_ubatch=512,
        contexts=contexts,
    )  # fmt: skip
    assert lengths == [ATTENTION_TILE - 1] * 4
    assert split({i: 1 + n for i, n in enumerate(lengths)}, 512) == [dict.fromkeys(range(4), ATTENTION_TILE)]


def test_a_tile_beside_a_sequence_that_does_not_draft_holds_its_shared_token_too() -> None:
    # Sequence 1 guesses badly and feeds its token alone; llama.cpp decodes one token of each sequence
    # together first, so sequence 0 needs 64 more for its own ubatch to hold a tile.
    rates = [Offer(0, 128, 0.99), Offer(1, 128, 0.05)]
    lengths = plan(
        rates, fed=generating(2), base_yield=2, cost=CPU, budget=256, n_ubatch=512, contexts={0: 1000, 1: 1000}
    )
    assert lengths == [ATTENTION_TILE, 0]
    assert split({0: 1 + lengths[0], 1: 1}, 512) == [{0: 1, 1: 1}, {0: ATTENTION_TILE}]


def test_no_tile_where_the_drafts_run_out_or_the_budget_does() -> None:
    short = plan(
        offers(0.99, available=20), fed=generating(1), base_yield=1, cost=CPU, budget=256, n_ubatch=512,
        contexts={0: 1000},
    )  # fmt: skip
    assert 0 < short[0] <= 20
    assert sum(plan(offers(*[0.99] * 4, available=128), fed=generating(4), base_yield=4, cost=CPU, budget=48,
                    n_ubatch=512, contexts=dict.fromkeys(range(4), 1000))) <= 48  # fmt: skip


def test_plan_evens_out_draft_lengths_rather_than_split_the_step() -> None:
    # Drafts of 12 and 3 tokens would need three ubatches (1+1, then 3+3, then 9); a common cap of 3 needs one.
    rates = offers(0.9, 0.45)
    rates[1] = Offer(1, 3, 0.9)
    assert plan(rates, fed=generating(2), base_yield=2, cost=COST, budget=48, n_ubatch=512) == [3, 3]


def test_plan_keeps_within_the_budget_and_the_drafts_available() -> None:
    assert sum(plan(offers(*[0.95] * 8), fed=generating(8), base_yield=8, cost=COST, budget=10, n_ubatch=512)) <= 10
    assert plan(offers(0.95, available=2), fed=generating(1), base_yield=1, cost=COST, budget=48, n_ubatch=512) == [2]
    assert plan([], fed=generating(1), base_yield=1, cost=COST, budget=48, n_ubatch=512) == []


@pytest.mark.parametrize(
    ("fed", "expected"),
    [
        ({0: 1, 1: 1, 2: 1}, 1),  # one token each: one ubatch
        ({0: 5, 1: 5}, 1),
        ({0: 5, 1: 1}, 2),  # 1+1, then 4 of sequence 0
        ({0: 9, 1: 1, 2: 9}, 3),  # 1+1+1, then 0 and 2 are not consecutive: 8, then 8
        ({0: 9, 1: 9, 2: 1}, 2),  # 1+1+1, then 8+8
        ({0: 1, 2: 1}, 2),  # a gap in the ids splits the batch
        ({0: 600}, 2),  # longer than a ubatch
        ({}, 0),
    ],
)
def test_ubatches_as_llama_cpp_splits_a_batch(fed: dict[int, int], expected: int) -> None:
    assert len(split(fed, 512)) == expected


@pytest.mark.parametrize(
    ("long_step", "per_context"),
    [
        (0.025 + 500 * 1.3e-5, 1.3e-5),  # as measured
        (0.024, 0.0003 * 0.025),  # the long step came out faster than the short one: noise
        (0.1, 0.0012 * 0.025),  # a busy moment
    ],
    ids=["measured", "noise", "busy"],
)
def test_warm_up_keeps_what_a_cached_token_costs_within_what_a_cpu_shows(
    monkeypatch: pytest.MonkeyPatch, long_step: float, per_context: float
) -> None:
    # A step of one token at 512 cached tokens against one at 12 (25 ms): the 500 tokens between make the
    # difference, unless it is beyond what a quiet CPU shows.
    engine = LlamaEngine("unused.gguf", n_ctx_per_sequence=4096, n_batch=512)
    engine.memory = None
    monkeypatch.setattr(llama_cpp, "llama_memory_seq_rm", lambda *args: True)
    monkeypatch.setattr(engine, "_timed", lambda entries: long_step)
    assert engine._context_cost(list(range(12)), 0.025) == pytest.approx(per_context)

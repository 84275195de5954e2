"""PyTorch output tokens are counted per request from its ids, not from the padded batch width."""

from __future__ import annotations

from types import SimpleNamespace

from llem.backends.pytorch.tokens import count_new_tokens, eos_ids

EOS, PAD = 2, 0


def test_rows_that_stop_early_are_not_counted_at_full_width():
    rows = [[5, 6, 7, 8], [5, EOS, PAD, PAD], [EOS, PAD, PAD, PAD]]
    assert count_new_tokens(rows, {EOS}) == [4, 2, 1]


def test_pad_equal_to_eos_and_several_eos_ids():
    rows = [[5, 6, EOS, EOS], [5, 6, 7, 9]]
    assert count_new_tokens(rows, {EOS, 9}) == [3, 4]


def test_a_row_without_eos_is_all_output_even_with_pad_ids():
    # transformers pads only finished rows: a pad id inside an unfinished row was generated
    assert count_new_tokens([[PAD, 5, PAD]], {EOS}) == [3]


def test_eos_ids_from_generation_config_or_tokenizer():
    assert eos_ids(SimpleNamespace(eos_token_id=[2, 7]), None) == {2, 7}
    assert eos_ids(SimpleNamespace(eos_token_id=None), SimpleNamespace(eos_token_id=3)) == {3}
    assert eos_ids(None, None) == set()

"""The tiny model's tokenizer corpus is frozen with its cache version (llem/models/builtin.py)."""

from __future__ import annotations

import hashlib

from llem.models.builtin import TINY_CORPUS, TINY_VERSION, tiny_corpus

# Changing the corpus changes every tiny model built from it: bump TINY_VERSION and this pin together.
PINNED = {
    "tiny-v1": "759eb49b62a81e18fbcea1bbca337c3f3f042a386e84803cbbf679b470a43c36",
    "tiny-v2": "759eb49b62a81e18fbcea1bbca337c3f3f042a386e84803cbbf679b470a43c36",  # v2 added a chat template only
}


def test_tiny_corpus_is_the_one_its_version_was_built_from():
    assert hashlib.sha256(TINY_CORPUS.read_bytes()).hexdigest() == PINNED[TINY_VERSION]
    texts = tiny_corpus()
    assert len(texts) == 48 and all(isinstance(t, str) and t.strip() for t in texts)

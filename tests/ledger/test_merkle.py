"""The Merkle tree against a plain recursive reference implementation of RFC 9162 2.1."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.ledger import merkle

# -- reference: RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1 word for word, recursively --------------------


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# -- a tree built with TreeBuilder, nodes kept in a dict ------------------------------------------


class Tree:
    def __init__(self, data: list[bytes]) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.builder = merkle.TreeBuilder()
        for item in data:
            for level, index, value in self.builder.append(merkle.leaf_hash(item)):
                self.nodes[level, index] = value

    def fetch(self, keys):
        return {key: self.nodes[key] for key in keys}


leaves = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)


@settings(max_examples=200, deadline=None)
@given(leaves)
def test_roots_match_the_reference(data: list[bytes]) -> None:
    tree = Tree(data)
    assert tree.builder.root() == ref_mth(data)
    for size in range(1, len(data) + 1):
        assert merkle.root_hash(size, tree.fetch) == ref_mth(data[:size])


@settings(max_examples=200, deadline=None)
@given(leaves, st.data())
def test_inclusion_proofs_match_the_reference_and_verify(data: list[bytes], draw) -> None:
    tree = Tree(data)
    size = draw.draw(st.integers(1, len(data)))
    index = draw.draw(st.integers(0, size - 1))
    path = merkle.inclusion_proof(index, size, tree.fetch)
    assert path == ref_path(index, data[:size])
    root = ref_mth(data[:size])
    leaf = merkle.leaf_hash(data[index])
    assert merkle.verify_inclusion(index, size, leaf, path, root)
    # Any other leaf, index, size or path fails.
    assert not merkle.verify_inclusion(
        index, size, merkle.leaf_hash(data[index] + b"x"), path, root
    )
    if size > 1:
        assert not merkle.verify_inclusion((index + 1) % size, size, leaf, path, root)
        bent = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
        assert not merkle.verify_inclusion(index, size, leaf, bent, root)
        assert not merkle.verify_inclusion(index, size, leaf, path[:-1], root)
    assert not merkle.verify_inclusion(index, size, leaf, [*path, root], root)


@settings(max_examples=200, deadline=None)
@given(leaves, st.data())
def test_consistency_proofs_match_the_reference_and_verify(data: list[bytes], draw) -> None:
    tree = Tree(data)
    new = draw.draw(st.integers(1, len(data)))
    old = draw.draw(st.integers(1, new))
    path = merkle.consistency_proof(old, new, tree.fetch)
    assert path == ref_subproof(old, data[:new], True)
    old_root, new_root = ref_mth(data[:old]), ref_mth(data[:new])
    assert merkle.verify_consistency(old, new, old_root, new_root, path)
    other = hashlib.sha256(b"other").digest()
    assert not merkle.verify_consistency(old, new, other, new_root, path)
    assert not merkle.verify_consistency(old, new, old_root, other, path)
    if path:
        bent = [*path[:-1], bytes([path[-1][0] ^ 1]) + path[-1][1:]]
        assert not merkle.verify_consistency(old, new, old_root, new_root, bent)
        assert not merkle.verify_consistency(old, new, old_root, new_root, path[1:])


def test_empty_tree_and_bad_arguments() -> None:
    assert merkle.TreeBuilder().root() == hashlib.sha256(b"").digest()
    with pytest.raises(ValueError):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(ValueError):
        merkle.consistency_ranges(0, 3)
    with pytest.raises(ValueError):
        merkle.decompose(1, 3)  # not a subtree of any RFC 9162 tree
    assert not merkle.verify_inclusion(5, 3, b"x" * 32, [], b"x" * 32)


def test_a_builder_resumes_from_its_frontier() -> None:
    data = [bytes([i]) for i in range(37)]
    whole = Tree(data)
    for size in range(0, 37):
        keys = merkle.frontier_keys(size)
        resumed = merkle.TreeBuilder(size, [whole.nodes[k] for k in keys])
        for item in data[size:]:
            resumed.append(merkle.leaf_hash(item))
        assert resumed.root() == ref_mth(data)


@settings(max_examples=100, deadline=None)
@given(leaves, st.integers(0, 6), st.data())
def test_extend_makes_the_nodes_append_makes_from_a_level_up(data, lowest, draw) -> None:
    whole = Tree(data)
    split = draw.draw(st.integers(0, len(data)))
    hashes = [merkle.leaf_hash(item) for item in data]
    builder = merkle.TreeBuilder()
    made = builder.extend(hashes[:split], lowest) + builder.extend(hashes[split:], lowest)
    one_by_one = merkle.TreeBuilder()
    assert made == [
        node for item in hashes for node in one_by_one.append(item) if node[0] >= lowest
    ]
    assert {(level, index): value for level, index, value in made} == {
        key: value for key, value in whole.nodes.items() if key[0] >= lowest
    }
    assert builder.size == len(data) and builder.root() == ref_mth(data)


@settings(max_examples=100, deadline=None)
@given(leaves, st.integers(0, 4), st.data())
def test_low_nodes_of_a_block_are_the_trees(data, level, draw) -> None:
    whole = Tree(data)
    block = 1 << level
    start = draw.draw(st.integers(0, (len(data) - 1) // block)) * block
    hashes = [merkle.leaf_hash(item) for item in data[start : start + block]]
    made = merkle.low_nodes(start, hashes)
    assert made == {
        (lv, index): value
        for (lv, index), value in whole.nodes.items()
        if start <= index << lv and (index + 1) << lv <= start + len(hashes)
    }
    with pytest.raises(ValueError):
        merkle.low_nodes(2 * start + 1, [b"x" * 32] * 2)  # not the start of a block of 2

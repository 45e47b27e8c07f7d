"""Merkle tree hashing, inclusion and consistency proofs, as RFC 9162 (Certificate Transparency
version 2.0) section 2.1 defines them, with SHA-256.

    MTH({})         = SHA-256()
    MTH({d(0)})     = SHA-256(0x00 || d(0))                                  (a leaf)
    MTH(D[n])       = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))             (a node)

where k is the largest power of two smaller than n. The leading 0x00 / 0x01 byte separates the
domains of leaves and nodes, so no leaf can pass for a node (second-preimage attacks).

Proofs are made from the hashes of *complete* subtrees: the subtree of 2**level leaves starting
at leaf `index * 2**level` is node `(level, index)`. Every subtree a proof needs, D[a:b], starts
at a multiple of a power of two at least as large as b - a, so its hash is a right fold of at most
log2(n) complete subtrees. With those node hashes at hand (`truceline.ledger.store` keeps those
of 16 leaves or more and makes the smaller ones from their leaves, `low_nodes`), a proof costs
O(log n) look-ups and hashes; `TreeBuilder` keeps the right edge of the tree so that an append
costs O(1) amortised (one leaf hash and, on average, one node hash).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree."""

NodeKey = tuple[int, int]
"""(level, index): the complete subtree of 2**level leaves starting at leaf index * 2**level."""
FetchNodes = Callable[[Iterable[NodeKey]], dict[NodeKey, bytes]]
"""Returns the hashes of the complete subtrees asked for."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def decompose(start: int, end: int) -> list[NodeKey]:
    """The complete subtrees, left to right, that make up D[start:end], whose MTH is their right
    fold. Raises ValueError unless `start` is a multiple of a power of two >= end - start (true
    of every subtree RFC 9162's proofs use)."""
    size = end - start
    if size <= 0:
        raise ValueError(f"empty range [{start}, {end})")
    if start % (1 << (size - 1).bit_length()):
        raise ValueError(f"range [{start}, {end}) is not a subtree of an RFC 9162 tree")
    keys = []
    position = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, position >> level))
            position += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its complete subtrees (`decompose`), left to right."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def subtree_hashes(ranges: Sequence[tuple[int, int]], fetch: FetchNodes) -> list[bytes]:
    """MTH of each range, with one call to `fetch` for all the node hashes needed."""
    plans = [decompose(a, b) for a, b in ranges]
    found = fetch({key for plan in plans for key in plan})
    try:
        return [fold([found[key] for key in plan]) for plan in plans]
    except KeyError as exc:
        raise LookupError(f"node {exc.args[0]} (level, index) is not stored") from None


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes make the inclusion proof (audit path) of leaf `index` in a tree
    of `size` leaves: RFC 9162 2.1.3.1 PATH(m, D[n]), leaf upwards."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    stack = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            stack.append((lo + k, hi))
            hi = lo + k
        else:
            stack.append((lo, lo + k))
            lo += k
    return stack[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes make the consistency proof from a tree of `old_size` leaves to
    one of `new_size`: RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    stack = []
    lo, hi, m, whole = 0, new_size, old_size, True
    while True:
        if m == hi - lo:
            if not whole:
                stack.append((lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            stack.append((lo + k, hi))
            hi = lo + k
        else:
            stack.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    return stack[::-1]


def inclusion_proof(index: int, size: int, fetch: FetchNodes) -> list[bytes]:
    """The audit path of leaf `index` in the tree of the first `size` leaves."""
    return subtree_hashes(inclusion_ranges(index, size), fetch)


def consistency_proof(old_size: int, new_size: int, fetch: FetchNodes) -> list[bytes]:
    """The consistency proof between the trees of the first `old_size` and `new_size` leaves."""
    return subtree_hashes(consistency_ranges(old_size, new_size), fetch)


def root_hash(size: int, fetch: FetchNodes) -> bytes:
    """MTH of the first `size` leaves."""
    return EMPTY_ROOT if size == 0 else subtree_hashes([(0, size)], fetch)[0]


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root that `path` proves leaf hash `leaf` at `index` to be under, or None if the path
    cannot be an audit path of that leaf in a tree of `size` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether `path` proves leaf hash `leaf` is leaf `index` of the tree of `size` with `root`."""
    return root_from_inclusion(index, size, leaf, path) == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """Whether `path` proves the tree (`new_size`, `new_root`) extends (`old_size`, `old_root`)
    (RFC 9162 2.1.4.2)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if not path:
        return False
    path = list(path)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a subtree of the new
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def frontier_keys(size: int) -> list[NodeKey]:
    """The complete subtrees of the right edge of a tree of `size` leaves, left to right: one
    per set bit of `size` (what `TreeBuilder` needs to carry on appending)."""
    return decompose(0, size) if size else []


def low_nodes(start: int, leaves: Sequence[bytes]) -> dict[NodeKey, bytes]:
    """The hashes of every complete subtree of the leaves `start`, `start + 1`, ... whose leaf
    hashes are `leaves` (the leaves themselves at level 0), `start` being a multiple of a power
    of two >= len(leaves): how the store makes the nodes it does not keep (the lowest levels)
    from a block of leaf hashes."""
    if leaves and start % (1 << (len(leaves) - 1).bit_length()):
        raise ValueError(f"{len(leaves)} leaves from {start} are not a block of the tree")
    nodes: dict[NodeKey, bytes] = {}
    row, level = list(leaves), 0
    while row:
        first = start >> level
        for offset, value in enumerate(row):
            nodes[level, first + offset] = value
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        level += 1
    return nodes


class TreeBuilder:
    """Appends leaves to a tree, yielding the node hashes each append completes.

    It keeps only the right edge (`frontier`): the hashes of the complete subtrees that make up
    the tree, at most log2(n) + 1 of them, one per set bit of the size, so an append costs one
    leaf hash plus one node hash per subtree it completes (one on average).
    """

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if size < 0 or size.bit_count() != len(frontier):
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier nodes")
        self.size = size
        self._hashes = list(frontier)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add leaf hash `leaf`; returns (level, index, hash) of every node it completes, the
        leaf itself (level 0) first, one per level."""
        index = self.size
        made = [(0, index, leaf)]
        hashes = self._hashes
        level, value, rest = 0, leaf, index
        while rest & 1:  # the frontier's lowest subtree is as big as this one: join them
            value = node_hash(hashes.pop(), value)
            level += 1
            rest >>= 1
            made.append((level, index >> level, value))
        hashes.append(value)
        self.size = index + 1
        return made

    def extend(self, leaves: Iterable[bytes], lowest: int = 0) -> list[tuple[int, int, bytes]]:
        """Add leaf hashes `leaves` in turn; returns (level, index, hash) of the nodes they
        complete at levels >= `lowest` (the same nodes as `append`, fewer tuples)."""
        pop, push, node = self._hashes.pop, self._hashes.append, node_hash
        made: list[tuple[int, int, bytes]] = []
        keep = made.append
        index = self.size
        try:
            for value in leaves:
                if lowest == 0:
                    keep((0, index, value))
                level, rest = 0, index
                while rest & 1:
                    value = node(pop(), value)
                    level += 1
                    rest >>= 1
                    if level >= lowest:
                        keep((level, index >> level, value))
                push(value)
                index += 1
        finally:
            self.size = index  # the frontier holds what was appended, even if `leaves` failed
        return made

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        return fold(self._hashes) if self._hashes else EMPTY_ROOT

    @property
    def frontier(self) -> list[bytes]:
        return list(self._hashes)

r"""Neuron-based sparse distributed memory with explicit hard locations.

Kanerva's SDM (1988) stores binary patterns in ``r`` *hard locations* (neurons) scattered
over the address space :math:`\{0,1\}^n`. Each hard location :math:`j` has an address
:math:`a_j` and a vector of ``value_dim`` integer *counters* :math:`C_j`.

- **Write** (key :math:`p_a`, value :math:`p_v`): every active neuron adds the bipolar value
  to its counters,

  .. math:: C_j \leftarrow \operatorname{clip}_{\pm S}\bigl(C_j + (2 p_v - 1)\bigr)
            \quad \text{for every } j \text{ with } \alpha_j(p_a) = 1

  (no clipping when ``saturation`` :math:`S` is ``None``).
- **Read** (query :math:`\xi`): sum the counters of the active neurons and take the majority,

  .. math:: s(\xi) = \sum_j \alpha_j(\xi)\, C_j = A C, \qquad
            \hat p_v = [\, s(\xi) > 0 \,]

  Ties (:math:`s = 0`) read as 0. In the {0,1} form this is the weighted mean of the stored
  values, thresholded at 1/2; :attr:`SDM.write_counts` holds the per-neuron write counts that
  give the weights.

Two address designs decide which neurons are active (:math:`\alpha_j(\xi) = 1`):

- **full address** (Kanerva): neuron :math:`j` compares all ``n`` bits, at Hamming distance
  :math:`d_H(\xi, a_j)`;
- **selected coordinate** (Jaeckel 1989): neuron :math:`j` looks at ``k`` coordinates
  :math:`c_{j1..jk}` with target bits :math:`t_{j1..jk}` and counts the mismatches
  :math:`m_j(\xi) = \sum_i [\xi_{c_{ji}} \ne t_{ji}]` (the granule cell with ~4 mossy fibres).

Both designs define a *distance* per neuron (:meth:`SDM.distances`), and two activation rules
act on it:

- ``"radius"``: active when the distance is within the radius, :math:`d_H \le d` (full) or
  :math:`m_j \le` ``mismatches`` (selected; 0 means all ``k`` coordinates must match, the
  activation probability is then :math:`2^{-k}`);
- ``"top_k"``: exactly ``top_k`` neurons per query, those with the smallest distance; among
  neurons tied at the cut-off distance the ones with the **lowest index** win
  (:func:`top_k_mask`). This is Golgi-cell inhibition with a target coding level.

:class:`ContinuousSDM` is the real-valued variant (L2-normalised addresses, cosine
similarity, activation by a cosine threshold or top-k). :func:`cosine_for_radius` maps a
Hamming radius to the cosine threshold, :math:`\cos = 1 - 2d/n`.

The dense read here is the *reference implementation*: activation mask :math:`A` (batch, r)
by matmul Hamming distances, then :math:`s = A C`, with every floating-point product and
partial sum an exactly representable integer (float32 while the bound is below
:math:`2^{24}`, float64 below :math:`2^{53}`, int64 beyond). Faster paths (bit-packed
addresses, sparse reads of the active counters) must match it bit for bit.

The **packed path** (``read_path="packed"``, :mod:`models.sdm_packed`) is such a path for the
full-address design: addresses packed 64 bits to an int64 word, distances by XOR and
popcount, :math:`d_H(\xi, a_j) = \sum_w \operatorname{popcount}(\xi_w \oplus a_{jw})`,
then only the active neurons' counters are read, :math:`s_b = \sum_{j \in S_b} C_j`, and
written, :math:`C_j \mathrel{+}= 2 p_v - 1` for :math:`j \in S(p_a)`. It gives the same
distances, active sets, sums, bits and counters as the dense path, bit for bit.
"""

from __future__ import annotations

from typing import Any

import torch
from scipy import special, stats

from models import sdm_packed
from models._checks import (
    as_tensor,
    check_batch,
    check_binary,
    check_choice,
    check_int,
    check_matrix,
    check_real,
)
from models.seeding import SeedLike, torch_generator

__all__ = [
    "ACTIVATIONS",
    "READ_PATHS",
    "SDM",
    "ContinuousSDM",
    "cosine_for_radius",
    "radius_for_cosine",
    "top_k_mask",
]

#: Names of the activation rules (see the module docstring).
ACTIVATIONS: tuple[str, ...] = ("radius", "top_k")

#: Read paths of the binary SDM (see :class:`SDM`).
READ_PATHS: tuple[str, ...] = ("auto", "dense", "packed")

#: CPU rule of ``read_path="auto"``: packed for every batch from ``_AUTO_MIN_BITS_CPU``
#: address bits (r * n) on, and for batches of at most ``_AUTO_SMALL_BATCH`` queries from
#: ``_AUTO_MIN_BITS_CPU_SMALL_BATCH`` on. Measured with ``python bench/sdm_packed.py
#: --crossover --crossover-locations 1024,4096,16384,65536 --crossover-bits 64,256,1000
#: --crossover-batches 1,16,64,256,1024`` (2-core AMD EPYC shared with other jobs, torch
#: 2.13, numpy 2.3; dense/packed time ratios, > 1 means packed is faster):
#:
#: - r n >= 4.1e6 (4096 x 1000, 16384 x 256, 65536 x 64 and larger): packed faster at
#:   every batch 1..1024 (ratios 1.2-186) except one tie (0.93, 4096 x 1000 at b = 1024);
#: - r n ~ 1e6 (1024 x 1000, 4096 x 256, 16384 x 64): packed faster at b <= 16
#:   (1.2-21), about even at b = 64 (1.0-1.1), mixed beyond (0.86-3.2);
#: - r n <= 2.6e5: dense faster at b = 1 (packed 0.55-0.75), where the packed path's fixed
#:   cost (~1 ms of numpy/scipy calls) dominates.
#:
#: Below these sizes the dense float copy of the addresses that "auto" then builds is at
#: most 16 MB.
_AUTO_MIN_BITS_CPU = 4_000_000
_AUTO_MIN_BITS_CPU_SMALL_BATCH = 1_000_000
_AUTO_SMALL_BATCH = 16

#: Largest number of elements of one (queries x neurons) intermediate; reads and writes
#: are processed in chunks of queries so that no intermediate exceeds it.
_ELEMENT_BUDGET = 2**26

#: Bits per block when SDM.random draws packed addresses (16 MiB of uint8 at a time).
_RANDOM_BLOCK_BITS = 2**24

#: Integers up to these magnitudes are exact in float32 / float64.
_FLOAT32_EXACT = 2**24
_FLOAT64_EXACT = 2**53

_COUNTER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64)


# ---------------------------------------------------------------------------------------------
# Small pure functions
# ---------------------------------------------------------------------------------------------


def cosine_for_radius(n: int, radius: float) -> float:
    r"""Cosine similarity of two bipolar vectors at Hamming distance ``radius``.

    .. math:: \cos = 1 - \frac{2 d}{n}

    Parameters
    ----------
    n
        Vector length (bits).
    radius
        Hamming distance :math:`d`, ``0 <= radius <= n`` (real values allowed).

    Returns
    -------
    float
        The cosine, in ``[-1, 1]``.
    """
    n = check_int("n", n, minimum=1)
    radius = check_real("radius", radius, minimum=0.0, maximum=float(n))
    return 1.0 - 2.0 * radius / n


def radius_for_cosine(n: int, cosine: float) -> float:
    r"""Hamming distance matching a cosine, the inverse of :func:`cosine_for_radius`.

    .. math:: d = \frac{n (1 - \cos)}{2}
    """
    n = check_int("n", n, minimum=1)
    cosine = check_real("cosine", cosine, minimum=-1.0, maximum=1.0)
    return n * (1.0 - cosine) / 2.0


def top_k_mask(scores: torch.Tensor, k: int, *, largest: bool = False) -> torch.Tensor:
    r"""Boolean mask of the ``k`` best entries of each row, ties to the lowest index.

    Row by row, the mask selects every entry strictly better than the ``k``-th best value and
    then, among the entries equal to it, the ones with the lowest column index until exactly
    ``k`` are selected. The result is deterministic on every device.

    Parameters
    ----------
    scores
        ``(batch, r)`` real or integer scores (a vector is one row).
    k
        Number of entries to keep per row, ``1 <= k <= r``.
    largest
        Keep the largest scores (e.g. cosines) instead of the smallest (distances).

    Returns
    -------
    torch.Tensor
        Bool tensor of the shape of ``scores`` with exactly ``k`` true entries per row.
    """
    scores = as_tensor("scores", scores)
    squeeze = scores.dim() == 1
    scores = check_matrix("scores", scores)
    k = check_int("k", k, minimum=1)
    if k > scores.shape[1]:
        raise ValueError(f"k must be <= the number of columns ({scores.shape[1]}), got {k}")
    if scores.is_floating_point() and bool(torch.isnan(scores).any()):
        raise ValueError("scores must not contain NaN")
    kth = torch.topk(scores, k, dim=1, largest=largest, sorted=True).values[:, -1:]
    better = scores > kth if largest else scores < kth
    tied = scores == kth
    need = k - better.sum(dim=1, keepdim=True)
    mask = better | (tied & (tied.cumsum(dim=1) <= need))
    return mask[0] if squeeze else mask


def _check_pattern_batch(name: str, value: Any, length: int, length_name: str,
                         device: torch.device) -> tuple[torch.Tensor, bool]:
    """Binary (batch, length) patterns on ``device``; also whether a vector was given."""
    return check_batch(name, value, kind="binary", length=length, length_name=length_name,
                       device=device)


def _float32_is_exact(device: torch.device, max_entry: int) -> bool:
    """Whether float32 matmuls on ``device`` reproduce integer inputs up to ``max_entry``.

    With the default "highest" precision float32 inputs are used as they are. If reduced
    precision is enabled (TF32 on CUDA, bf16 inside oneDNN on CPU), inputs are rounded to as
    few as 8 significant bits, so only small integers survive.
    """
    reduced = torch.get_float32_matmul_precision() != "highest"
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        reduced = True
    return max_entry <= (2**8 if reduced else _FLOAT32_EXACT)


def _exact_matmul(left: torch.Tensor, right: torch.Tensor, *, left_max: int,
                  right_max: int, bound: int) -> torch.Tensor:
    """``left @ right`` for integer-valued tensors, exactly, returned as int64.

    ``left_max``/``right_max`` bound the magnitude of the entries and ``bound`` bounds every
    partial sum. The product runs in float32 when that is exact, else float64, else int64 on
    the CPU (integer matmul is not available on every device).
    """
    device = left.device
    if bound < _FLOAT32_EXACT and _float32_is_exact(device, max(left_max, right_max)):
        dtype = torch.float32
    elif bound < _FLOAT64_EXACT and device.type != "mps":
        dtype = torch.float64
    else:
        out = left.to("cpu", torch.int64) @ right.to("cpu", torch.int64)
        return out.to(device)
    product = left.to(dtype) @ right.to(dtype)
    return product.round().to(torch.int64)


# ---------------------------------------------------------------------------------------------
# Binary SDM
# ---------------------------------------------------------------------------------------------


class SDM:
    r"""Binary sparse distributed memory with explicit hard locations (neurons).

    The constructor takes full (Kanerva) addresses; :meth:`random`,
    :meth:`selected_coordinate` and :meth:`random_selected_coordinate` build the other
    designs. See the module docstring for the equations.

    Parameters
    ----------
    addresses
        ``(r, n)`` binary hard-location addresses :math:`a_j` (one neuron per row).
    radius
        Hamming radius :math:`d` for ``activation="radius"`` (``0 <= radius <= n``).
    activation
        ``"radius"`` or ``"top_k"``; ``None`` picks ``"top_k"`` when ``top_k`` is given,
        else ``"radius"``.
    top_k
        Number of active neurons per query for ``activation="top_k"`` (``1 <= top_k <= r``);
        ties at the cut-off go to the lowest neuron index.
    value_dim
        Length of the stored values (``None``: ``n``, an autoassociative memory).
    saturation
        Counter bound :math:`S`: counters are clipped to ``[-S, S]`` after each write, which
        makes writes order dependent, so they are applied one key at a time in order.
        ``None``: no clipping (batched writes, exact).
    counter_dtype
        Integer dtype of the counters (``torch.int32`` by default).
    device
        Where the memory lives (default: the device of ``addresses``). Inputs are moved there.
    read_path
        How distances, reads and writes are computed (same results on every path, bit for
        bit):

        - ``"dense"``: the reference. Distances by a float matmul of bipolar addresses and
          queries, :math:`d_H = (n - \langle 2\xi - 1, 2a_j - 1 \rangle)/2`, sums by
          :math:`s = A C` over all ``r`` neurons.
        - ``"packed"`` (full addresses only): addresses packed into :math:`W = \lceil n/64
          \rceil` int64 words; :math:`d_H = \sum_w \operatorname{popcount}(\xi_w \oplus
          a_{jw})`; reads sum only the active rows, :math:`s_b = \sum_{j \in S_b} C_j`;
          writes add only to them (:mod:`models.sdm_packed`).
        - ``"auto"`` (default): packed where it is faster, decided per call
          (:meth:`uses_packed`): never for the selected-coordinate design (nothing to
          pack); on CUDA always (an estimate); on the CPU from :math:`r n \ge 4 \cdot 10^6`
          address bits, or :math:`r n \ge 10^6` for batches of at most 16 (measured).

    Attributes
    ----------
    design : str
        ``"full"`` or ``"selected"``.
    n, r, value_dim : int
        Address length, number of hard locations, value length.
    addresses : torch.Tensor or None
        ``(r, n)`` uint8 addresses (full design). With ``read_path`` ``"packed"`` or
        ``"auto"`` only the packed words are stored and this property unpacks them on each
        access (keep a reference instead of reading it in a loop).
    address_words : torch.Tensor or None
        ``(W, r)`` int64 word-major packed addresses (full design, packed or auto path).
    read_path : str
        The requested read path (``"auto"``, ``"dense"`` or ``"packed"``).
    coordinates, targets : torch.Tensor or None
        ``(r, k)`` int64 coordinates and uint8 target bits (selected design).
    counters : torch.Tensor
        ``(r, value_dim)`` integer counters :math:`C` (a view: do not modify it in place,
        use :meth:`set_counters`, which keeps the exactness bounds right).
    write_counts : torch.Tensor
        ``(r,)`` int64, how many keys activated each neuron during writes.
    n_writes : int
        Number of keys written so far.

    Notes
    -----
    Memory (:meth:`memory_bytes`). Dense path: the addresses (uint8, 1 byte per bit) plus a
    cached float32 bipolar copy (4 bytes per address bit, built on the first dense read),
    the counters, and during a read one float copy of the counters. Packed and auto paths
    keep only the packed words, :math:`8 r \lceil n/64 \rceil` bytes (:attr:`addresses`
    is then unpacked on each access), plus the counters, :math:`r\,v` times the counter
    size; the dense cache is built only if ``"auto"`` picks the dense path. Reads and writes
    are chunked over queries so that the (queries x neurons) intermediates stay below about
    :math:`2^{26}` elements.
    """

    def __init__(self, addresses: Any, *, radius: int | None = None,
                 activation: str | None = None, top_k: int | None = None,
                 value_dim: int | None = None, saturation: int | None = None,
                 counter_dtype: torch.dtype = torch.int32,
                 device: torch.device | str | None = None, read_path: str = "auto") -> None:
        read_path = check_choice("read_path", read_path, READ_PATHS)
        addresses = check_binary("addresses", addresses)
        if addresses.dim() != 2 or addresses.shape[0] < 1 or addresses.shape[1] < 1:
            raise ValueError("addresses must be a non-empty (r, n) matrix, "
                             f"got shape {tuple(addresses.shape)}")
        device = torch.device(device) if device is not None else addresses.device
        r, n = addresses.shape
        self._init_full(n=n, r=r, radius=radius, activation=activation, top_k=top_k,
                        value_dim=value_dim, saturation=saturation,
                        counter_dtype=counter_dtype, device=device, read_path=read_path,
                        addresses=addresses)

    def _init_full(self, *, n: int, r: int, radius: int | None, activation: str | None,
                   top_k: int | None, value_dim: int | None, saturation: int | None,
                   counter_dtype: torch.dtype, device: torch.device, read_path: str,
                   addresses: torch.Tensor | None = None,
                   words: torch.Tensor | None = None) -> None:
        """Full-address design from ``(r, n)`` bits or word-major ``(W, r)`` words."""
        activation = _resolve_activation(activation, top_k)
        if activation == "radius":
            if radius is None:
                raise ValueError("radius is required when activation='radius'")
            radius = check_int("radius", radius, minimum=0, maximum=n)
        elif radius is not None:
            raise ValueError("radius must be None when activation='top_k'")
        self.design = "full"
        self.coordinates: torch.Tensor | None = None
        self.targets: torch.Tensor | None = None
        self.radius: int | None = radius
        self.mismatches: int | None = None
        self._setup(n=n, r=r, activation=activation, top_k=top_k, value_dim=value_dim,
                    saturation=saturation, counter_dtype=counter_dtype, device=device,
                    read_path=read_path)
        # dense keeps the uint8 addresses; packed and auto keep only the packed words
        self._addresses: torch.Tensor | None = None
        self._address_words: torch.Tensor | None = None  # (W, r)
        if read_path == "dense":
            self._addresses = (addresses.to(device=device, dtype=torch.uint8)
                               if addresses is not None
                               else sdm_packed.unpack_bits(words.T.to(device), n))
        else:
            self._address_words = (words.to(device) if words is not None else
                                   sdm_packed.pack_addresses(addresses.to(device)))

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def random(cls, r: int, n: int, *, radius: int | None = None,
               activation: str | None = None, top_k: int | None = None,
               value_dim: int | None = None, saturation: int | None = None,
               counter_dtype: torch.dtype = torch.int32, seed: SeedLike | torch.Generator = None,
               device: torch.device | str = "cpu", read_path: str = "auto") -> SDM:
        """Full-address SDM with ``r`` uniformly random addresses in :math:`\\{0,1\\}^n`.

        Addresses are drawn on the CPU from the child seed ``(seed, "sdm_addresses")`` and
        moved to ``device``, so one seed gives the same neurons on every device. Other
        arguments as in :class:`SDM`.
        """
        r = check_int("r", r, minimum=1)
        n = check_int("n", n, minimum=1)
        _check_activation_args(r, n, radius, activation, top_k)
        read_path = check_choice("read_path", read_path, READ_PATHS)
        generator = torch_generator(seed, "sdm_addresses")
        if read_path == "dense":
            addresses = torch.randint(0, 2, (r, n), generator=generator, dtype=torch.uint8)
            return cls(addresses, radius=radius, activation=activation, top_k=top_k,
                       value_dim=value_dim, saturation=saturation,
                       counter_dtype=counter_dtype, device=device, read_path=read_path)
        # packed/auto: draw and pack blocks of rows, so the (r, n) bits never exist at once.
        # The CPU generator fills a tensor element by element, so consecutive row blocks
        # are the same bits as one (r, n) draw (tests compare with read_path="dense").
        device = torch.device(device)
        words = torch.empty((sdm_packed.n_words(n), r), dtype=torch.int64, device=device)
        rows = max(1, _RANDOM_BLOCK_BITS // n)
        for start in range(0, r, rows):
            block = torch.randint(0, 2, (min(rows, r - start), n), generator=generator,
                                  dtype=torch.uint8)
            words[:, start:start + block.shape[0]] = sdm_packed.pack_bits(block.to(device)).T
        self = cls.__new__(cls)
        self._init_full(n=n, r=r, radius=radius, activation=activation, top_k=top_k,
                        value_dim=value_dim, saturation=saturation,
                        counter_dtype=counter_dtype, device=device, read_path=read_path,
                        words=words)
        return self

    @classmethod
    def from_packed(cls, address_words: Any, n: int, *, radius: int | None = None,
                    activation: str | None = None, top_k: int | None = None,
                    value_dim: int | None = None, saturation: int | None = None,
                    counter_dtype: torch.dtype = torch.int32,
                    device: torch.device | str | None = None,
                    read_path: str = "packed") -> SDM:
        """Full-address SDM from packed addresses, without building the ``(r, n)`` bits.

        Parameters
        ----------
        address_words
            ``(r, ceil(n/64))`` int64 words, as :func:`models.sdm_packed.pack_bits` makes
            them: bit ``i`` of address ``j`` is bit ``i % 64`` of ``address_words[j, i //
            64]``; the padding bits of the last word must be 0.
        n
            Address length in bits.

        Other arguments as in :class:`SDM` (``read_path="dense"`` unpacks the addresses).
        """
        read_path = check_choice("read_path", read_path, READ_PATHS)
        n = check_int("n", n, minimum=1)
        words = as_tensor("address_words", address_words)
        if words.dtype != torch.int64:
            raise TypeError(f"address_words must be int64 packed words, got {words.dtype}")
        width = sdm_packed.n_words(n)
        if words.dim() != 2 or words.shape[0] < 1 or words.shape[1] != width:
            raise ValueError(f"address_words must be a non-empty (r, ceil(n/64)={width}) "
                             f"matrix, got shape {tuple(words.shape)}")
        used = n - (width - 1) * sdm_packed.WORD_BITS  # bits of the last word in use
        if used < sdm_packed.WORD_BITS and bool((words[:, -1] & -(1 << used)).any()):
            raise ValueError(f"address_words must have 0 in the padding bits (bits {used}.."
                             f"63 of the last word, n={n})")
        device = torch.device(device) if device is not None else words.device
        self = cls.__new__(cls)
        self._init_full(n=n, r=int(words.shape[0]), radius=radius, activation=activation,
                        top_k=top_k, value_dim=value_dim, saturation=saturation,
                        counter_dtype=counter_dtype, device=device, read_path=read_path,
                        words=words.to(device).T.contiguous())
        return self

    @classmethod
    def selected_coordinate(cls, coordinates: Any, targets: Any, n: int, *,
                            mismatches: int = 0, activation: str | None = None,
                            top_k: int | None = None, value_dim: int | None = None,
                            saturation: int | None = None,
                            counter_dtype: torch.dtype = torch.int32,
                            device: torch.device | str | None = None,
                            read_path: str = "auto") -> SDM:
        r"""Selected-coordinate SDM (Jaeckel 1989).

        Neuron :math:`j` looks at the ``k`` coordinates ``coordinates[j]`` (distinct, in
        ``[0, n)``) and is active, with ``activation="radius"``, when at most ``mismatches``
        of them differ from ``targets[j]``:

        .. math:: \alpha_j(\xi) = \Bigl[\sum_{i=1}^{k} [\xi_{c_{ji}} \ne t_{ji}]
                  \le \text{mismatches}\Bigr]

        With ``activation="top_k"`` the ``top_k`` neurons with the fewest mismatches fire
        (ties to the lowest index) and ``mismatches`` must stay 0.

        Parameters
        ----------
        coordinates
            ``(r, k)`` integer coordinates (the mossy-fibre inputs of a granule cell).
        targets
            ``(r, k)`` binary target bits (which rail, "on" or "off", the input comes from).
        n
            Address length.
        mismatches
            Tolerated mismatches, ``0 <= mismatches <= k``.
        read_path
            ``"auto"`` or ``"dense"`` (both read densely: a neuron sees only ``k``
            coordinates, there are no full addresses to pack); ``"packed"`` is refused.
        """
        read_path = check_choice("read_path", read_path, READ_PATHS)
        if read_path == "packed":
            raise ValueError("read_path 'packed' needs full (Kanerva) addresses; the "
                             "selected-coordinate design reads densely (use 'auto' or "
                             "'dense')")
        n = check_int("n", n, minimum=1)
        coordinates = as_tensor("coordinates", coordinates)
        if coordinates.dim() != 2 or coordinates.shape[0] < 1 or coordinates.shape[1] < 1:
            raise ValueError("coordinates must be a non-empty (r, k) matrix, "
                             f"got shape {tuple(coordinates.shape)}")
        if coordinates.is_floating_point() or coordinates.dtype == torch.bool:
            if coordinates.dtype == torch.bool or not bool(
                    (coordinates == coordinates.round()).all()):
                raise TypeError("coordinates must be integers")
        coordinates = coordinates.to(torch.int64)
        r, k = coordinates.shape
        if k > n:
            raise ValueError(f"coordinates must have at most n={n} columns (k <= n), got k={k}")
        if bool((coordinates < 0).any()) or bool((coordinates >= n).any()):
            raise ValueError(f"coordinates must lie in [0, n={n}), got values in "
                             f"[{int(coordinates.min())}, {int(coordinates.max())}]")
        ordered = coordinates.sort(dim=1).values
        if k > 1 and bool((ordered[:, 1:] == ordered[:, :-1]).any()):
            row = int((ordered[:, 1:] == ordered[:, :-1]).any(dim=1).nonzero()[0, 0])
            raise ValueError(f"coordinates must be distinct within a neuron; row {row} "
                             f"repeats a coordinate")
        targets = check_binary("targets", targets)
        if tuple(targets.shape) != (r, k):
            raise ValueError(f"targets must have the shape of coordinates ({r}, {k}), "
                             f"got {tuple(targets.shape)}")
        activation = _resolve_activation(activation, top_k)
        mismatches = check_int("mismatches", mismatches, minimum=0, maximum=k)
        if activation == "top_k" and mismatches != 0:
            raise ValueError("mismatches must be 0 when activation='top_k' (top-k ranks "
                             "neurons by their number of mismatches)")
        device = torch.device(device) if device is not None else coordinates.device
        self = cls.__new__(cls)
        self.design = "selected"
        self._addresses = None
        self._address_words = None
        self.coordinates = coordinates.to(device)
        self.targets = targets.to(device=device, dtype=torch.uint8)
        self.radius = None
        self.mismatches = mismatches if activation == "radius" else None
        self._setup(n=n, r=r, activation=activation, top_k=top_k, value_dim=value_dim,
                    saturation=saturation, counter_dtype=counter_dtype, device=device,
                    read_path=read_path)
        return self

    @classmethod
    def random_selected_coordinate(cls, r: int, n: int, k: int, *, mismatches: int = 0,
                                   activation: str | None = None, top_k: int | None = None,
                                   value_dim: int | None = None,
                                   saturation: int | None = None,
                                   counter_dtype: torch.dtype = torch.int32,
                                   seed: SeedLike | torch.Generator = None,
                                   device: torch.device | str = "cpu",
                                   read_path: str = "auto") -> SDM:
        """Selected-coordinate SDM with random neurons.

        Each neuron gets ``k`` distinct coordinates, a uniformly random subset of
        ``range(n)`` (Floyd's algorithm, stored sorted), and uniformly random target bits.
        Drawn on the CPU from the child seed ``(seed, "sdm_selected")``.
        """
        r = check_int("r", r, minimum=1)
        n = check_int("n", n, minimum=1)
        k = check_int("k", k, minimum=1, maximum=n)
        read_path = check_choice("read_path", read_path, READ_PATHS)
        if read_path == "packed":
            raise ValueError("read_path 'packed' needs full (Kanerva) addresses; the "
                             "selected-coordinate design reads densely (use 'auto' or "
                             "'dense')")
        generator = torch_generator(seed, "sdm_selected")
        coordinates = torch.empty((r, k), dtype=torch.int64)
        # Floyd: for j = n-k .. n-1 draw t in [0, j]; take t unless already taken, else j.
        for i, j in enumerate(range(n - k, n)):
            t = torch.randint(0, j + 1, (r,), generator=generator)
            taken = (coordinates[:, :i] == t[:, None]).any(dim=1)
            coordinates[:, i] = torch.where(taken, torch.full_like(t, j), t)
        coordinates = coordinates.sort(dim=1).values
        targets = torch.randint(0, 2, (r, k), generator=generator, dtype=torch.uint8)
        return cls.selected_coordinate(coordinates, targets, n, mismatches=mismatches,
                                       activation=activation, top_k=top_k,
                                       value_dim=value_dim, saturation=saturation,
                                       counter_dtype=counter_dtype, device=device,
                                       read_path=read_path)

    def _setup(self, *, n: int, r: int, activation: str, top_k: int | None,
               value_dim: int | None, saturation: int | None, counter_dtype: torch.dtype,
               device: torch.device, read_path: str) -> None:
        """Shared part of the constructors: activation, counters, bookkeeping."""
        self.read_path = read_path
        self.n = n
        self.r = r
        self.activation = activation
        self.top_k = _check_top_k(top_k, r) if activation == "top_k" else None
        if activation == "radius" and top_k is not None:
            raise ValueError("top_k must be None when activation='radius'")
        self.value_dim = n if value_dim is None else check_int("value_dim", value_dim,
                                                                minimum=1)
        if counter_dtype not in _COUNTER_DTYPES:
            raise TypeError(f"counter_dtype must be one of {_COUNTER_DTYPES}, "
                            f"got {counter_dtype}")
        self._counter_max = torch.iinfo(counter_dtype).max
        if saturation is not None:
            saturation = check_int("saturation", saturation, minimum=1,
                                   maximum=self._counter_max)
        self.saturation: int | None = saturation
        self.device = torch.device(device)
        self._counters = torch.zeros((r, self.value_dim), dtype=counter_dtype,
                                     device=self.device)
        self.write_counts = torch.zeros(r, dtype=torch.int64, device=self.device)
        self.n_writes = 0
        self._abs_bound = 0  # upper bound on max |counter|
        self._column_bound: int | None = 0  # cached max_v sum_j |C_jv| (None: stale)
        self._bipolar_cache: torch.Tensor | None = None

    # -- properties --------------------------------------------------------------------------

    @property
    def counters(self) -> torch.Tensor:
        """``(r, value_dim)`` integer counters :math:`C` (a view; change them only through
        :meth:`write` or :meth:`set_counters`)."""
        return self._counters.detach()

    @property
    def addresses(self) -> torch.Tensor | None:
        """``(r, n)`` uint8 addresses (full design), else ``None``.

        Stored as they are on the dense path; unpacked from :attr:`address_words` on each
        access on the packed and auto paths.
        """
        if self._addresses is not None:
            return self._addresses
        if self._address_words is None:
            return None
        return sdm_packed.unpack_bits(self._address_words.T, self.n)

    @property
    def address_words(self) -> torch.Tensor | None:
        """``(W, r)`` int64 packed addresses, word-major (packed and auto paths), else None."""
        return self._address_words

    def uses_packed(self, batch: int = 1) -> bool:
        r"""Whether a call with ``batch`` queries or keys takes the packed path.

        ``"packed"``: always; ``"dense"`` and the selected-coordinate design: never;
        ``"auto"``: on CUDA always; on the CPU when :math:`r n \ge 4 \cdot 10^6`, or when
        :math:`r n \ge 10^6` and ``batch <= 16``.

        The CPU rule is measured (the comment of ``_AUTO_MIN_BITS_CPU`` gives the numbers:
        packed is faster at every batch above :math:`4 \cdot 10^6` address bits and at
        small batches from :math:`10^6`; below, its fixed cost of about a millisecond of
        numpy/scipy calls loses to one small matmul). The CUDA rule is an estimate, not a
        measurement (no GPU was available when it was written). The exact dense path reads
        :math:`4 r n` bytes of float32 addresses and converts the counters per read, then
        does :math:`4 n` flops per (query, neuron) pair in float32 (TF32 off; ~60 ps per
        pair at n = 1000 on ~67 TFLOP/s). The packed path reads :math:`r n / 8` bytes of
        addresses and moves about 120 bytes per pair through memory (fused XOR-popcount
        kernels on 4 words at a time and their sums; ~40 ps per pair at 3 TB/s), then only
        the active counter rows. So it should win at every batch, by far at small ones.
        ``bench/sdm_packed.py --device cuda`` measures it.
        """
        if self._address_words is None:
            return False
        if self.read_path == "packed" or self.device.type == "cuda":
            return True
        batch = check_int("batch", batch, minimum=0)
        bits = self.r * self.n
        return bits >= _AUTO_MIN_BITS_CPU or (bits >= _AUTO_MIN_BITS_CPU_SMALL_BATCH
                                              and batch <= _AUTO_SMALL_BATCH)

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held now: ``addresses`` (uint8 or packed words), ``dense_cache`` (float
        bipolar copy, 0 until a dense read builds it), ``counters``, ``write_counts`` and
        ``total``."""
        def size(tensor: torch.Tensor | None) -> int:
            return 0 if tensor is None else tensor.numel() * tensor.element_size()

        held = {
            "addresses": size(self._addresses) + size(self._address_words)
            + size(self.coordinates) + size(self.targets),
            "dense_cache": size(self._bipolar_cache),
            "counters": size(self._counters),
            "write_counts": size(self.write_counts),
        }
        held["total"] = sum(held.values())
        return held

    @property
    def k(self) -> int | None:
        """Coordinates per neuron (selected design), else ``None``."""
        return None if self.coordinates is None else int(self.coordinates.shape[1])

    @property
    def activation_probability(self) -> float:
        r"""Probability that a neuron is active for a uniformly random query.

        Full design, radius: :math:`P(\mathrm{Bin}(n, 1/2) \le d)`; selected design:
        :math:`2^{-k} \sum_{i \le \text{mismatches}} \binom{k}{i}`; top-k: ``top_k / r``.
        """
        if self.activation == "top_k":
            return self.top_k / self.r
        if self.design == "full":
            return float(stats.binom.cdf(self.radius, self.n, 0.5))
        k = self.k
        return float(sum(special.comb(k, i, exact=True) for i in range(self.mismatches + 1))
                     / 2**k)

    def __repr__(self) -> str:
        rule = (f"radius={self.radius}" if self.design == "full" else
                f"k={self.k}, mismatches={self.mismatches}")
        if self.activation == "top_k":
            rule = "top_k=" + str(self.top_k) + ("" if self.design == "full" else
                                                 f", k={self.k}")
        return (f"SDM(design={self.design!r}, r={self.r}, n={self.n}, {rule}, "
                f"value_dim={self.value_dim}, saturation={self.saturation}, "
                f"n_writes={self.n_writes}, device={self.device}, "
                f"read_path={self.read_path!r})")

    # -- activation --------------------------------------------------------------------------

    def _chunk(self) -> int:
        """Queries per chunk so that one (chunk, r) intermediate fits the budget."""
        return max(1, _ELEMENT_BUDGET // self.r)

    def _bipolar_addresses(self) -> torch.Tensor:
        """Cached ``(r, n)`` bipolar addresses in the distance dtype (exact integer dots)."""
        if self._bipolar_cache is None:
            dtype = torch.float32 if self.n < _FLOAT32_EXACT else torch.float64
            self._bipolar_cache = self.addresses.to(dtype) * 2 - 1
        return self._bipolar_cache

    def _distances(self, queries: torch.Tensor, packed: bool = False) -> torch.Tensor:
        """Distances for one chunk of validated ``(b, n)`` queries; ``(b, r)`` int32.

        ``packed``: XOR-popcount on the packed words (full design), else the dense matmul.
        """
        if packed:
            return sdm_packed.hamming_distances(sdm_packed.pack_bits(queries),
                                                self._address_words, budget=_ELEMENT_BUDGET)
        if self.design == "full":
            bipolar = self._bipolar_addresses()
            q = queries.to(bipolar.dtype) * 2 - 1
            # d_H = (n - <q, a>) / 2 for bipolar q, a: exact (integer dot products)
            dots = q @ bipolar.T  # (b, r)
            return ((self.n - dots) / 2).round().to(torch.int32)
        # selected: count mismatching coordinates, one coordinate slot at a time
        columns = queries.to(torch.uint8).T.contiguous()  # (n, b): row gathers are fast
        mismatches = torch.zeros((self.r, queries.shape[0]), dtype=torch.int32,
                                 device=self.device)
        for i in range(self.coordinates.shape[1]):
            looked = columns[self.coordinates[:, i]]  # (r, b) bits at the i-th coordinate
            mismatches += looked != self.targets[:, i, None]
        return mismatches.T.contiguous()

    def _mask(self, distances: torch.Tensor) -> torch.Tensor:
        """Activation rule on a ``(b, r)`` distance chunk."""
        if self.activation == "top_k":
            return top_k_mask(distances, self.top_k)
        threshold = self.radius if self.design == "full" else self.mismatches
        return distances <= threshold

    def distances(self, queries: Any) -> torch.Tensor:
        r"""Distance from each query to each neuron, the quantity the activation rule uses.

        Full design: Hamming distance :math:`d_H(\xi, a_j)`; selected design: number of the
        neuron's ``k`` coordinates where the query differs from the target bit.

        Parameters
        ----------
        queries
            ``(batch, n)`` (or ``(n,)``) binary queries.

        Returns
        -------
        torch.Tensor
            ``(batch, r)`` (or ``(r,)``) int32 distances.
        """
        queries, squeeze = _check_pattern_batch("queries", queries, self.n, "n", self.device)
        packed = self.uses_packed(queries.shape[0])
        chunk = self._chunk()
        parts = [self._distances(queries[i:i + chunk], packed)
                 for i in range(0, queries.shape[0], chunk)]
        out = torch.cat(parts) if parts else torch.zeros((0, self.r), dtype=torch.int32,
                                                         device=self.device)
        return out[0] if squeeze else out

    def activations(self, queries: Any) -> torch.Tensor:
        r"""Activation mask :math:`A_{bj} = \alpha_j(\xi_b)`, ``(batch, r)`` bool.

        The same function decides the active neurons of a write (pass the keys), so a
        spiking circuit's granule cells can be compared neuron by neuron.
        """
        queries, squeeze = _check_pattern_batch("queries", queries, self.n, "n", self.device)
        out = self._activations(queries)
        return out[0] if squeeze else out

    def _activations(self, queries: torch.Tensor) -> torch.Tensor:
        packed = self.uses_packed(queries.shape[0])
        chunk = self._chunk()
        parts = [self._mask(self._distances(queries[i:i + chunk], packed))
                 for i in range(0, queries.shape[0], chunk)]
        if not parts:
            return torch.zeros((0, self.r), dtype=torch.bool, device=self.device)
        return torch.cat(parts)

    def _active_pairs(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Packed path: active (query, neuron) pairs of validated queries, sorted."""
        return sdm_packed.active_pairs(sdm_packed.pack_bits(queries), self._address_words,
                                       radius=self.radius, top_k=self.top_k,
                                       budget=_ELEMENT_BUDGET)

    def active_sets(self, queries: Any) -> list[torch.Tensor]:
        """Indices of the active neurons for each query (ascending int64 tensors)."""
        queries, _ = _check_pattern_batch("queries", queries, self.n, "n", self.device)
        if self.uses_packed(queries.shape[0]):
            rows, cols = self._active_pairs(queries)
            counts = torch.bincount(rows, minlength=queries.shape[0]).tolist()
            return list(torch.split(cols, counts))
        return [row.nonzero().flatten() for row in self._activations(queries)]

    # -- write -------------------------------------------------------------------------------

    def write(self, keys: Any, values: Any) -> None:
        r"""Store ``values`` at ``keys``: :math:`C \leftarrow C + A(\text{keys})^\top (2V-1)`.

        Without saturation the batch is written at once (the sum commutes). With
        saturation each key is applied in order, clipping after each one, exactly as a
        sequence of single writes.

        Parameters
        ----------
        keys
            ``(m, n)`` (or ``(n,)``) binary keys :math:`p_a`.
        values
            ``(m, value_dim)`` (or ``(value_dim,)``) binary values :math:`p_v`.
        """
        keys, _ = _check_pattern_batch("keys", keys, self.n, "n", self.device)
        values, _ = _check_pattern_batch("values", values, self.value_dim, "value_dim",
                                         self.device)
        m = keys.shape[0]
        if values.shape[0] != m:
            raise ValueError(f"values must have one row per key ({m} keys), "
                             f"got {values.shape[0]} rows")
        if self.saturation is None and self._abs_bound + m > self._counter_max:
            raise ValueError(f"keys: writing {m} more patterns could overflow the "
                             f"{self._counters.dtype} counters (bound {self._abs_bound} + {m} > "
                             f"{self._counter_max}); use a wider counter_dtype or saturation")
        if m == 0:
            return
        bipolar = values.to(torch.int64) * 2 - 1  # (m, value_dim)
        if self.uses_packed(m):
            self._write_packed(keys, bipolar)
        else:
            self._write_dense(keys, bipolar)
        self.n_writes += m
        # each write changes a counter by at most 1
        self._abs_bound += m
        if self.saturation is not None:
            self._abs_bound = min(self.saturation, self._abs_bound)
        self._column_bound = None

    def _write_dense(self, keys: torch.Tensor, bipolar: torch.Tensor) -> None:
        r"""Reference write: activation masks, then :math:`C \mathrel{+}= A^\top V`."""
        chunk = self._chunk()
        for start in range(0, keys.shape[0], chunk):
            mask = self._mask(self._distances(keys[start:start + chunk]))  # (b, r)
            self.write_counts += mask.sum(dim=0)
            block = bipolar[start:start + chunk]
            if self.saturation is None:
                increment = _exact_matmul(mask.T, block, left_max=1, right_max=1,
                                          bound=block.shape[0])
                self._counters += increment.to(self._counters.dtype)
            else:
                s = self.saturation
                for row, value in zip(mask, block, strict=True):
                    idx = row.nonzero().flatten()
                    updated = self._counters[idx].to(torch.int64) + value
                    self._counters[idx] = updated.clamp(-s, s).to(self._counters.dtype)

    def _write_packed(self, keys: torch.Tensor, bipolar: torch.Tensor) -> None:
        """Packed write: only the active neurons' counters change (same result as dense)."""
        chunk = self._chunk()
        for start in range(0, keys.shape[0], chunk):
            rows, cols = self._active_pairs(keys[start:start + chunk])  # sorted by key
            self.write_counts.index_add_(0, cols, torch.ones_like(cols))
            block = bipolar[start:start + chunk]
            if self.saturation is None:
                sdm_packed.scatter_add(self._counters, rows, cols, block,
                                       budget=_ELEMENT_BUDGET)
            else:
                s = self.saturation
                counts = torch.bincount(rows, minlength=block.shape[0]).tolist()
                for idx, value in zip(torch.split(cols, counts), block, strict=True):
                    updated = self._counters[idx].to(torch.int64) + value
                    self._counters[idx] = updated.clamp(-s, s).to(self._counters.dtype)

    def set_counters(self, counters: Any) -> None:
        """Replace the counters (e.g. by weights read off a circuit), ``(r, value_dim)`` ints.

        Entries must be integers that fit ``counter_dtype`` (and ``[-S, S]`` with
        saturation). :attr:`write_counts` and :attr:`n_writes` are left unchanged.
        """
        counters = as_tensor("counters", counters)
        if tuple(counters.shape) != (self.r, self.value_dim):
            raise ValueError(f"counters must have shape (r, value_dim)=({self.r}, "
                             f"{self.value_dim}), got {tuple(counters.shape)}")
        if counters.is_floating_point():
            if not bool(torch.isfinite(counters).all()) or not bool(
                    (counters == counters.round()).all()):
                raise ValueError("counters must be integers")
        if counters.dtype == torch.bool:
            counters = counters.to(torch.uint8)
        # range from min and max (no widened copy: 10^6 x 1000 counters are 4 GB in int32)
        biggest = (max(-int(counters.min()), int(counters.max()), 0) if counters.numel()
                   else 0)
        limit = self.saturation if self.saturation is not None else self._counter_max
        if biggest > limit:
            raise ValueError(f"counters must lie in [-{limit}, {limit}], "
                             f"got max |C| = {biggest}")
        self._counters.copy_(counters)  # in place: converts dtype/device, no second buffer
        self._abs_bound = biggest
        self._column_bound = None

    def reset(self) -> None:
        """Zero the counters and the write counts."""
        self._counters.zero_()
        self.write_counts.zero_()
        self.n_writes = 0
        self._abs_bound = 0
        self._column_bound = 0

    # -- read --------------------------------------------------------------------------------

    def _sum_bound(self) -> int:
        """max over value columns of sum_j |C_jv|: bounds every partial sum of A @ C."""
        if self._column_bound is None:
            self._column_bound = int(self._counters.to(torch.int64).abs().sum(dim=0).max())
        return self._column_bound

    def _sums(self, queries: torch.Tensor) -> torch.Tensor:
        """Pre-threshold sums for validated ``(batch, n)`` queries, int64."""
        if self.uses_packed(queries.shape[0]):
            rows, cols = self._active_pairs(queries)
            return sdm_packed.gather_sums(self._counters, rows, cols, queries.shape[0],
                                          max_abs=self._abs_bound, budget=_ELEMENT_BUDGET)
        bound = self._sum_bound()
        chunk = self._chunk()
        parts = []
        for start in range(0, queries.shape[0], chunk):
            mask = self._mask(self._distances(queries[start:start + chunk]))
            parts.append(_exact_matmul(mask, self._counters, left_max=1,
                                       right_max=self._abs_bound, bound=bound))
        if not parts:
            return torch.zeros((0, self.value_dim), dtype=torch.int64, device=self.device)
        return torch.cat(parts)

    def sums(self, queries: Any) -> torch.Tensor:
        r"""Pre-threshold sums :math:`s = A(\xi) C`, ``(batch, value_dim)`` int64 (exact)."""
        queries, squeeze = _check_pattern_batch("queries", queries, self.n, "n", self.device)
        out = self._sums(queries)
        return out[0] if squeeze else out

    def read(self, queries: Any, iterations: int = 1) -> torch.Tensor:
        r"""Read: :math:`\hat p_v = [A(\xi) C > 0]` (ties, :math:`s = 0`, read as 0).

        Parameters
        ----------
        queries
            ``(batch, n)`` (or ``(n,)``) binary queries :math:`\xi`.
        iterations
            Number of reads, each feeding its output back as the next query
            (:math:`\xi \leftarrow \hat p_v`); needs ``value_dim == n``. Stops early once
            every row is a fixed point (further reads would not change it).

        Returns
        -------
        torch.Tensor
            ``(batch, value_dim)`` (or ``(value_dim,)``) uint8 bits.
        """
        iterations = check_int("iterations", iterations, minimum=1)
        if iterations > 1 and self.value_dim != self.n:
            raise ValueError(f"iterations > 1 needs an autoassociative memory "
                             f"(value_dim == n={self.n}), got value_dim={self.value_dim}")
        queries, squeeze = _check_pattern_batch("queries", queries, self.n, "n", self.device)
        current = queries.to(torch.uint8)
        for _ in range(iterations):
            bits = (self._sums(current) > 0).to(torch.uint8)
            if iterations > 1 and torch.equal(bits, current):
                break
            current = bits
        return bits[0] if squeeze else bits


def _resolve_activation(activation: str | None, top_k: int | None) -> str:
    if activation is None:
        return "top_k" if top_k is not None else "radius"
    return check_choice("activation", activation, ACTIVATIONS)


def _check_top_k(top_k: int | None, r: int) -> int:
    if top_k is None:
        raise ValueError("top_k is required when activation='top_k'")
    top_k = check_int("top_k", top_k, minimum=1)
    if top_k > r:
        raise ValueError(f"top_k must be <= r={r} (the number of hard locations), "
                         f"got {top_k}")
    return top_k


def _check_activation_args(r: int, n: int, radius: int | None, activation: str | None,
                           top_k: int | None) -> None:
    """Validate activation arguments before drawing random addresses (cheap checks first)."""
    activation = _resolve_activation(activation, top_k)
    if activation == "radius":
        if radius is None:
            raise ValueError("radius is required when activation='radius'")
        check_int("radius", radius, minimum=0, maximum=n)
    else:
        _check_top_k(top_k, r)


# ---------------------------------------------------------------------------------------------
# Continuous SDM
# ---------------------------------------------------------------------------------------------


class ContinuousSDM:
    r"""Real-valued SDM on the unit sphere (continuous addresses, cosine similarity).

    Addresses and queries are L2-normalised; neuron :math:`j` is active when

    .. math:: \cos(\xi, a_j) = \frac{\xi \cdot a_j}{\lVert \xi \rVert \lVert a_j \rVert}
              \ge \theta

    (``activation="threshold"``; ``radius`` gives :math:`\theta = 1 - 2d/n`), or when it is
    among the ``top_k`` largest cosines (ties to the lowest index). Writes add real values,
    :math:`C \leftarrow C + A^\top V`, and count the writes per neuron, :math:`N \leftarrow N
    + A^\top 1`; the read is the intersection-weighted mean of the stored values,

    .. math:: \hat v(\xi) = \frac{A(\xi)\, C}{A(\xi)\, N}
              = \frac{\sum_\mu w_\mu v_\mu}{\sum_\mu w_\mu},

    :math:`w_\mu` = number of neurons active for both key :math:`\mu` and the query
    (0 where no written neuron is active).

    Parameters
    ----------
    addresses
        ``(r, n)`` real addresses (normalised here; no zero rows).
    threshold
        Cosine threshold :math:`\theta \in [-1, 1]` (``activation="threshold"``).
    radius
        Alternative to ``threshold``: a Hamming-equivalent radius ``0 <= radius <= n``.
    activation
        ``"threshold"`` or ``"top_k"`` (``None``: ``"top_k"`` if ``top_k`` is given).
    top_k
        Number of active neurons per query, ``1 <= top_k <= r``.
    value_dim
        Length of the values (``None``: ``n``).
    tolerance
        Cosines within ``tolerance`` below the threshold still count as active, absorbing
        rounding (``None``: :math:`n \epsilon` of ``dtype``, a bound on the rounding error of
        a dot product of unit vectors; it keeps bipolar vectors exactly on the radius
        active).
    dtype, device
        Storage/compute dtype (float32 or float64) and device.
    """

    def __init__(self, addresses: Any, *, threshold: float | None = None,
                 radius: float | None = None, activation: str | None = None,
                 top_k: int | None = None, value_dim: int | None = None,
                 tolerance: float | None = None, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        addresses = as_tensor("addresses", addresses)
        if addresses.dim() != 2 or addresses.shape[0] < 1 or addresses.shape[1] < 1:
            raise ValueError("addresses must be a non-empty (r, n) matrix, "
                             f"got shape {tuple(addresses.shape)}")
        addresses = addresses.to(dtype)
        if not bool(torch.isfinite(addresses).all()):
            raise ValueError("addresses must be finite")
        norms = addresses.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError("addresses must have no zero rows (they are L2-normalised)")
        r, n = addresses.shape
        if activation is None:
            activation = "top_k" if top_k is not None else "threshold"
        activation = check_choice("activation", activation, ("threshold", "top_k"))
        if activation == "threshold":
            if (threshold is None) == (radius is None):
                raise ValueError("threshold: give exactly one of threshold or radius when "
                                 "activation='threshold'")
            if radius is not None:
                threshold = cosine_for_radius(n, radius)
            threshold = check_real("threshold", threshold, minimum=-1.0, maximum=1.0)
            if top_k is not None:
                raise ValueError("top_k must be None when activation='threshold'")
        else:
            if threshold is not None or radius is not None:
                raise ValueError("threshold and radius must be None when activation='top_k'")
            top_k = _check_top_k(top_k, r)
        if tolerance is None:
            tolerance = n * torch.finfo(dtype).eps
        self.tolerance = check_real("tolerance", tolerance, minimum=0.0)
        self.device = torch.device(device) if device is not None else addresses.device
        self.n = n
        self.r = r
        self.activation = activation
        self.threshold: float | None = threshold
        self.top_k: int | None = top_k
        self.value_dim = n if value_dim is None else check_int("value_dim", value_dim,
                                                                minimum=1)
        self.dtype = dtype
        self.addresses = (addresses / norms).to(self.device)
        self.counters = torch.zeros((r, self.value_dim), dtype=dtype, device=self.device)
        self.write_counts = torch.zeros(r, dtype=dtype, device=self.device)
        self.n_writes = 0

    @classmethod
    def random(cls, r: int, n: int, *, seed: SeedLike | torch.Generator = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
               **kwargs: Any) -> ContinuousSDM:
        """``r`` addresses uniform on the unit sphere (normalised Gaussians).

        Drawn on the CPU from the child seed ``(seed, "continuous_sdm_addresses")``; other
        keyword arguments as in :class:`ContinuousSDM`.
        """
        r = check_int("r", r, minimum=1)
        n = check_int("n", n, minimum=1)
        generator = torch_generator(seed, "continuous_sdm_addresses")
        addresses = torch.randn((r, n), generator=generator, dtype=torch.float64)
        return cls(addresses, device=device, dtype=dtype, **kwargs)

    def _check_real(self, name: str, value: Any, length: int,
                    length_name: str) -> tuple[torch.Tensor, bool]:
        return check_batch(name, value, length=length, length_name=length_name, finite=True,
                           device=self.device, dtype=self.dtype)

    def _cosines(self, queries: torch.Tensor) -> torch.Tensor:
        norms = queries.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError("queries must have no zero rows (they are L2-normalised)")
        return (queries / norms) @ self.addresses.T  # (batch, r)

    def _activations(self, queries: torch.Tensor) -> torch.Tensor:
        cos = self._cosines(queries)
        if self.activation == "top_k":
            return top_k_mask(cos, self.top_k, largest=True)
        return cos >= self.threshold - self.tolerance

    def cosines(self, queries: Any) -> torch.Tensor:
        """``(batch, r)`` cosine similarities between queries and addresses."""
        queries, squeeze = self._check_real("queries", queries, self.n, "n")
        out = self._cosines(queries)
        return out[0] if squeeze else out

    def activations(self, queries: Any) -> torch.Tensor:
        """``(batch, r)`` bool activation mask."""
        queries, squeeze = self._check_real("queries", queries, self.n, "n")
        out = self._activations(queries)
        return out[0] if squeeze else out

    def write(self, keys: Any, values: Any) -> None:
        r"""Add ``values`` to the active neurons' counters: :math:`C \leftarrow C + A^\top V`."""
        keys, _ = self._check_real("keys", keys, self.n, "n")
        values, _ = self._check_real("values", values, self.value_dim, "value_dim")
        if values.shape[0] != keys.shape[0]:
            raise ValueError(f"values must have one row per key ({keys.shape[0]} keys), "
                             f"got {values.shape[0]} rows")
        mask = self._activations(keys).to(self.dtype)  # (m, r)
        self.counters += mask.T @ values
        self.write_counts += mask.sum(dim=0)
        self.n_writes += keys.shape[0]

    def sums(self, queries: Any) -> torch.Tensor:
        r"""Pre-normalisation sums :math:`A(\xi) C`, ``(batch, value_dim)``."""
        queries, squeeze = self._check_real("queries", queries, self.n, "n")
        out = self._activations(queries).to(self.dtype) @ self.counters
        return out[0] if squeeze else out

    def read(self, queries: Any) -> torch.Tensor:
        r"""Intersection-weighted mean of the stored values, :math:`A C / A N`."""
        queries, squeeze = self._check_real("queries", queries, self.n, "n")
        mask = self._activations(queries).to(self.dtype)
        weight = mask @ self.write_counts  # (batch,) = sum_mu w_mu
        out = (mask @ self.counters) / weight.clamp_min(1)[:, None]
        out = torch.where(weight[:, None] > 0, out, torch.zeros_like(out))
        return out[0] if squeeze else out

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

The constructors of the designs are in :mod:`models.sdm_constructors`; the real-valued
variant is :class:`models.sdm_continuous.ContinuousSDM`.

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

from models import sdm_fused, sdm_packed
from models._checks import as_tensor, check_binary, check_choice, check_int
from models.sdm_constructors import SDMConstructors, _check_fused
from models.sdm_functions import (
    _FLOAT32_EXACT,
    READ_PATHS,
    _check_pattern_batch,
    _check_top_k,
    _exact_matmul,
    _resolve_activation,
    top_k_mask,
)

__all__ = ["SDM"]

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

_COUNTER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64)


class SDM(SDMConstructors):
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
        - ``"fused"`` (full addresses only; Triton on CUDA, or on the CPU under
          ``TRITON_INTERPRET=1``): stored and written as ``"packed"``; sums read by one
          Triton kernel that computes the distances tile by tile in registers and adds the
          active counter rows in the same pass, never storing the distances
          (:mod:`models.sdm_fused`).
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
        The requested read path (``"auto"``, ``"dense"``, ``"packed"`` or ``"fused"``).
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
        _check_fused(read_path, device)
        # dense keeps the uint8 addresses; packed, fused and auto keep only the packed words
        self._addresses: torch.Tensor | None = None
        self._address_words: torch.Tensor | None = None  # (W, r)
        if read_path == "dense":
            self._addresses = (addresses.to(device=device, dtype=torch.uint8)
                               if addresses is not None
                               else sdm_packed.unpack_bits(words.T.to(device), n))
        else:
            self._address_words = (words.to(device) if words is not None else
                                   sdm_packed.pack_addresses(addresses.to(device)))

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
        """``(r, value_dim)`` integer counters :math:`C`.

        A view; change them only through :meth:`write` or :meth:`set_counters`.
        """
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
        if self.read_path in ("packed", "fused") or self.device.type == "cuda":
            return True
        batch = check_int("batch", batch, minimum=0)
        bits = self.r * self.n
        return bits >= _AUTO_MIN_BITS_CPU or (bits >= _AUTO_MIN_BITS_CPU_SMALL_BATCH
                                              and batch <= _AUTO_SMALL_BATCH)

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held now, per kind and in total.

        ``addresses`` (uint8 or packed words), ``dense_cache`` (float bipolar copy, 0 until a dense
        read builds it), ``counters``, ``write_counts`` and ``total``.
        """
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
        """Design, sizes, activation rule, counter state and device."""
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

        Raises
        ------
        ValueError
            If ``keys`` or ``values`` have the wrong shape or are not binary, if they differ
            in row count, or if the write could overflow the counters (no ``saturation``).
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
        """Max over value columns of sum_j |C_jv|: bounds every partial sum of A @ C."""
        if self._column_bound is None:
            self._column_bound = int(self._counters.to(torch.int64).abs().sum(dim=0).max())
        return self._column_bound

    def _sums(self, queries: torch.Tensor) -> torch.Tensor:
        """Pre-threshold sums for validated ``(batch, n)`` queries, int64."""
        if self.read_path == "fused":
            return sdm_fused.fused_sums(sdm_packed.pack_bits(queries), self._address_words,
                                        self._counters, radius=self.radius,
                                        top_k=self.top_k, n_bits=self.n,
                                        max_abs=self._abs_bound)
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


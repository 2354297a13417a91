r"""The four ways to build a neuron-based :class:`models.sdm.SDM` (its address designs).

- :meth:`~models.sdm.SDM.random`: full (Kanerva) addresses, uniformly random;
- :meth:`~models.sdm.SDM.from_packed`: full addresses given as packed int64 words;
- :meth:`~models.sdm.SDM.selected_coordinate`: Jaeckel's design, ``k`` coordinates and
  target bits per neuron;
- :meth:`~models.sdm.SDM.random_selected_coordinate`: the same with random neurons.

They live in :class:`SDMConstructors`, a base class of :class:`models.sdm_neuron.SDM`.
"""

from __future__ import annotations

from typing import Any, Self

import torch

from models import sdm_fused, sdm_packed
from models._checks import as_tensor, check_binary, check_choice, check_int
from models.sdm_functions import READ_PATHS, _check_activation_args, _resolve_activation
from models.seeding import SeedLike, torch_generator

__all__ = ["SDMConstructors"]

#: Bits per block when SDM.random draws packed addresses (16 MiB of uint8 at a time).
_RANDOM_BLOCK_BITS = 2**24


def _check_fused(read_path: str, device: torch.device | str) -> None:
    """``read_path="fused"`` on a device that cannot run it: one error, before any work."""
    if read_path == "fused":
        usable, why = sdm_fused.available(device)
        if not usable:
            raise ValueError(f"read_path 'fused': {why}")


class SDMConstructors:
    """Class-method constructors of :class:`models.sdm.SDM` (see the module docstring)."""

    @classmethod
    def random(cls, r: int, n: int, *, radius: int | None = None,
               activation: str | None = None, top_k: int | None = None,
               value_dim: int | None = None, saturation: int | None = None,
               counter_dtype: torch.dtype = torch.int32, seed: SeedLike | torch.Generator = None,
               device: torch.device | str = "cpu", read_path: str = "auto") -> Self:
        r"""Full-address SDM with ``r`` uniformly random addresses in :math:`\{0,1\}^n`.

        Addresses are drawn on the CPU from the child seed ``(seed, "sdm_addresses")`` and
        moved to ``device``, so one seed gives the same neurons on every device. Other
        arguments as in :class:`SDM`.
        """
        r = check_int("r", r, minimum=1)
        n = check_int("n", n, minimum=1)
        _check_activation_args(r, n, radius, activation, top_k)
        read_path = check_choice("read_path", read_path, READ_PATHS)
        _check_fused(read_path, device)  # before drawing or packing anything
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
                    read_path: str = "packed") -> Self:
        """Full-address SDM from packed addresses, without building the ``(r, n)`` bits.

        Parameters
        ----------
        address_words
            ``(r, ceil(n/64))`` int64 words, as :func:`models.sdm_packed.pack_bits` makes
            them: bit ``i`` of address ``j`` is bit ``i % 64`` of ``address_words[j, i //
            64]``; the padding bits of the last word must be 0.
        n
            Address length in bits.

        Notes
        -----
        Other arguments as in :class:`SDM` (``read_path="dense"`` unpacks the addresses).
        """
        read_path = check_choice("read_path", read_path, READ_PATHS)
        _check_fused(read_path, device if device is not None  # before anything is packed
                     else getattr(address_words, "device", "cpu"))
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
                            read_path: str = "auto") -> Self:
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
            coordinates, there are no full addresses to pack); ``"packed"`` and ``"fused"``
            are refused.
        """
        read_path = check_choice("read_path", read_path, READ_PATHS)
        if read_path in ("packed", "fused"):
            raise ValueError(f"read_path {read_path!r} needs full (Kanerva) addresses; the "
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
                                   read_path: str = "auto") -> Self:
        """Selected-coordinate SDM with random neurons.

        Each neuron gets ``k`` distinct coordinates, a uniformly random subset of
        ``range(n)`` (Floyd's algorithm, stored sorted), and uniformly random target bits.
        Drawn on the CPU from the child seed ``(seed, "sdm_selected")``.
        """
        r = check_int("r", r, minimum=1)
        n = check_int("n", n, minimum=1)
        k = check_int("k", k, minimum=1, maximum=n)
        read_path = check_choice("read_path", read_path, READ_PATHS)
        if read_path in ("packed", "fused"):
            raise ValueError(f"read_path {read_path!r} needs full (Kanerva) addresses; the "
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

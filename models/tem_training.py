r"""Training, checkpoints and evaluation of TEM and TEM-t on graph worlds.

Training protocol (Whittington et al. 2020, 2022; SCIENCE.md section 3)
-----------------------------------------------------------------------
- An **episode** is one batch of ``batch_size`` walks, each on its own world: a structure
  drawn uniformly from ``worlds`` (e.g. square grids of several sizes) with freshly sampled
  symbols, so nothing but structure carries over from one episode to the next. The walk
  length is drawn uniformly from ``walk_length`` (a multiple of ``window``); walks repeat
  their last action with probability ``repeat_bias``.
- The walk is cut into **windows** of ``window`` steps (truncated backpropagation through
  time): one optimiser step per window. The model state (position code and memory) carries
  over from window to window, detached, so the memory of every earlier step of the walk is
  still there but no gradient flows into it.
- Adam with an exponentially decaying learning rate
  :math:`\eta_s = \max(\eta_\mathrm{min}, \eta_\mathrm{min} + (\eta_0 - \eta_\mathrm{min})
  \, r^{s / s_r})` (TEM's schedule), gradient-norm clipping.

Everything random is derived from ``seed`` by name (:mod:`models.seeding`): the worlds,
symbols and walks of episode :math:`i` come from ``child_seed(seed, "episode", i)``, so a run
resumed from a checkpoint sees exactly the data it would have seen without the interruption.

Checkpoints
-----------
``DIR/checkpoint.pt`` is rewritten atomically (temporary file, then rename:
:func:`models.rundir.atomic_path`) every ``checkpoint_every`` episodes and at the end. It
holds the model and optimiser state, step and episode counters, torch RNG state, wall time
and the training history. :func:`train` on a ``DIR`` that holds a checkpoint resumes from it,
so an interrupted run loses at most one checkpoint interval and continues exactly as an
uninterrupted run would (same data, same optimiser moments).

A checkpoint holds plain data only (tensors, numbers, strings, lists, tuples, dicts; anything
else given as ``metadata`` is converted, e.g. ``torch.__version__`` to ``str``, or refused),
and :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``: a file that names
anything else (a class, a function) is refused with a ``ValueError``, and nothing in a
checkpoint is ever imported or called.

Evaluation
----------
:func:`evaluate` runs a model on fresh worlds (new symbols, walks never seen) and scores every
step: correct if the arg-max prediction equals the observation. Steps are classified with the
baselines of :mod:`models.worlds`: *visited* (the target node was visited before: the node
agent knows it) and *link inference* (visited, but reached by a directed edge never taken:
the edge agent cannot know it). Metrics: ``accuracy_visited``,
``accuracy_link_inference``, and the curve of fraction correct against fraction of nodes
visited, next to the node and edge agents, with ``max_gap_to_node_agent_after_half``: the
largest absolute gap between the model's curve and the node agent's over the bins where at
least half of the nodes have been visited.

Modules
-------
This module re-exports the public names of its parts: :mod:`models.tem_train_config`
(:class:`TrainConfig`, :func:`build_model`), :mod:`models.tem_checkpoints` (save, safe load,
export, the shipped checkpoints), :mod:`models.tem_train_loop` (:func:`train`) and
:mod:`models.tem_evaluation` (:func:`evaluate`).
"""

from __future__ import annotations

from models.tem_checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    DEFAULT_CHECKPOINTS,
    NAMED_CHECKPOINTS,
    NAMED_TEM_CHECKPOINTS,
    Checkpoint,
    default_checkpoint_path,
    export_checkpoint,
    load_checkpoint,
    load_model,
    named_checkpoint_path,
    shipped_checkpoints,
)
from models.tem_evaluation import (
    Evaluation,
    default_eval_steps,
    evaluate,
)
from models.tem_train_config import (
    MODEL_TYPES,
    TrainConfig,
    build_model,
    train_config_for_worlds,
)
from models.tem_train_loop import (
    TrainResult,
    check_resume,
    episode_batch,
    train,
    visited_mask,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "CHECKPOINT_VERSION",
    "DEFAULT_CHECKPOINTS",
    "MODEL_TYPES",
    "NAMED_CHECKPOINTS",
    "NAMED_TEM_CHECKPOINTS",
    "Checkpoint",
    "Evaluation",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "check_resume",
    "default_checkpoint_path",
    "default_eval_steps",
    "episode_batch",
    "evaluate",
    "export_checkpoint",
    "load_checkpoint",
    "load_model",
    "named_checkpoint_path",
    "shipped_checkpoints",
    "train",
    "train_config_for_worlds",
    "visited_mask",
]

r"""A synthetic class-incremental task and continual training of a classifier on it.

:func:`make_class_incremental_task` generates the task (no downloads),
:func:`train_class_incremental` trains a model task after task with plain SGD, and
:func:`forgetting` measures how much of each task is lost (see :mod:`models.sdm_mlp`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from models._checks import check_int, check_real
from models.sdm_mlp_network import _check_device_dtype
from models.seeding import SeedLike, torch_generator

__all__ = [
    "ClassIncrementalData",
    "ClassIncrementalTask",
    "ContinualResult",
    "evaluate_tasks",
    "forgetting",
    "make_class_incremental_task",
    "train_class_incremental",
]


# Synthetic class-incremental task
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassIncrementalTask:
    r"""Parameters of the synthetic class-incremental task (a Split-CIFAR-10 stand-in).

    Each class :math:`c` has a centre :math:`\mu_c \sim N(0, I_n)` and
    ``prototypes_per_class`` prototypes :math:`\mu_{c,p} = \mu_c + s\,\epsilon`;
    a sample is :math:`x = \mathrm{ReLU}(\mu_{c,p} + \sigma\,\epsilon')` with a
    prototype chosen uniformly: non-negative, like post-ReLU image embeddings. With the
    defaults a ReLU MLP trained on all classes jointly (not continually) reaches about 94%
    test accuracy, so the task is learnable but not trivial.
    """

    n_classes: int = 10            # C, number of classes (Split CIFAR-10: 10)
    classes_per_task: int = 2      # classes per task (Split CIFAR-10: 2 -> 5 tasks)
    dim: int = 64                  # n, input dimension (embedding size)
    prototypes_per_class: int = 3  # P, mixture components per class
    prototype_spread: float = 1.0  # s, std of prototypes around the class centre
    noise: float = 2.0             # sigma, per-sample Gaussian noise std (before ReLU)
    train_per_class: int = 200     # training samples per class
    test_per_class: int = 100      # test samples per class

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the first bad field."""
        check_int("n_classes", self.n_classes, minimum=2)
        check_int("classes_per_task", self.classes_per_task, minimum=1)
        if self.n_classes % self.classes_per_task:
            raise ValueError(f"n_classes must be a multiple of classes_per_task="
                             f"{self.classes_per_task}, got {self.n_classes}")
        if self.n_classes // self.classes_per_task < 2:
            raise ValueError("n_classes must give at least 2 tasks "
                             f"(classes_per_task={self.classes_per_task}), got "
                             f"{self.n_classes}")
        check_int("dim", self.dim, minimum=1)
        check_int("prototypes_per_class", self.prototypes_per_class, minimum=1)
        check_real("prototype_spread", self.prototype_spread, minimum=0.0)
        check_real("noise", self.noise, minimum=0.0)
        check_int("train_per_class", self.train_per_class, minimum=1)
        check_int("test_per_class", self.test_per_class, minimum=1)

    @property
    def n_tasks(self) -> int:
        """Number of tasks, ``n_classes // classes_per_task``."""
        return self.n_classes // self.classes_per_task


@dataclass
class ClassIncrementalData:
    """A generated task: train/test tensors and which classes belong to which task.

    Task ``t`` holds classes ``task_classes[t]`` (consecutive class indices); the output head
    covers all ``n_classes`` and no task identity is given at test time.
    """

    spec: ClassIncrementalTask
    x_train: torch.Tensor  # (C * train_per_class, n)
    y_train: torch.Tensor  # (C * train_per_class,) int64
    x_test: torch.Tensor   # (C * test_per_class, n)
    y_test: torch.Tensor   # (C * test_per_class,) int64
    task_classes: tuple[tuple[int, ...], ...]

    @property
    def n_tasks(self) -> int:
        """Number of tasks."""
        return len(self.task_classes)

    def split(self, task: int, *, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of one task's training (or test) samples."""
        task = check_int("task", task, minimum=0, maximum=self.n_tasks - 1)
        x, y = (self.x_train, self.y_train) if train else (self.x_test, self.y_test)
        classes = torch.tensor(self.task_classes[task], device=y.device)
        mask = torch.isin(y, classes)
        return x[mask], y[mask]


def make_class_incremental_task(spec: ClassIncrementalTask | None = None, *,
                                seed: SeedLike = 0, device: torch.device | str = "cpu",
                                dtype: torch.dtype = torch.float32) -> ClassIncrementalData:
    r"""Generate the synthetic class-incremental task (deterministic under ``seed``).

    .. math::

        \mu_c \sim N(0, I_n), \quad \mu_{c,p} = \mu_c + s\,\epsilon_{c,p}, \quad
        x = \mathrm{ReLU}(\mu_{c,p} + \sigma \epsilon), \; p \sim U\{1..P\}

    Parameters
    ----------
    spec
        Task parameters (default :class:`ClassIncrementalTask()`).
    seed
        Seed; all draws happen on the CPU in float64, so one seed gives the same data on
        every device.
    device, dtype
        Where and as what the inputs are returned (labels are int64).

    Returns
    -------
    ClassIncrementalData
    """
    spec = ClassIncrementalTask() if spec is None else spec
    if not isinstance(spec, ClassIncrementalTask):
        raise TypeError(f"spec must be a ClassIncrementalTask, got {type(spec).__name__}")
    spec.validate()
    dtype = _check_device_dtype(dtype)
    gen = torch_generator(seed, "class_incremental_task")
    c, n, p = spec.n_classes, spec.dim, spec.prototypes_per_class
    centres = torch.randn((c, 1, n), generator=gen, dtype=torch.float64)
    prototypes = centres + spec.prototype_spread * torch.randn((c, p, n), generator=gen,
                                                               dtype=torch.float64)

    def sample(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(c).repeat_interleave(per_class)  # (c * per_class,)
        which = torch.randint(0, p, (c * per_class,), generator=gen)
        noise = torch.randn((c * per_class, n), generator=gen, dtype=torch.float64)
        x = torch.relu(prototypes[labels, which] + spec.noise * noise)
        return x.to(device=device, dtype=dtype), labels.to(device=device)

    x_train, y_train = sample(spec.train_per_class)
    x_test, y_test = sample(spec.test_per_class)
    per = spec.classes_per_task
    tasks = tuple(tuple(range(t * per, (t + 1) * per)) for t in range(spec.n_tasks))
    return ClassIncrementalData(spec, x_train, y_train, x_test, y_test, tasks)


# ----------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------

@dataclass
class ContinualResult:
    """Outcome of sequential training over the tasks.

    ``accuracy[t, j]`` is the test accuracy on task ``j``'s classes (predicting among all
    classes) after training on tasks ``0..t``; entries with ``j > t`` are measured too (they
    are ~0: those classes were never trained).
    """

    accuracy: np.ndarray          # (tasks, tasks)
    seen_accuracy: np.ndarray     # (tasks,) accuracy over all test samples of tasks 0..t
    final_accuracy: float         # accuracy over the whole test set after the last task
    forgetting: float             # mean over tasks 0..T-2 of max_t acc[t, j] - acc[T-1, j]
    per_task_forgetting: np.ndarray  # (tasks - 1,)
    dead_neurons: int             # neurons never active during training
    train_seconds: float
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch


def forgetting(accuracy: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Average forgetting (Chaudhry et al. 2018) from an accuracy matrix.

    .. math::

        f_j = \max_{t \in [j, T-1)} a_{t,j} - a_{T-1,j}, \qquad
        F = \frac{1}{T-1} \sum_{j=0}^{T-2} f_j

    The last task is excluded (nothing was trained after it, so its forgetting is 0).

    Parameters
    ----------
    accuracy
        ``(T, T)`` matrix, ``accuracy[t, j]`` = accuracy on task ``j`` after task ``t``.

    Returns
    -------
    (float, numpy.ndarray)
        ``F`` and the per-task :math:`f_j` (length :math:`T-1`).
    """
    a = np.asarray(accuracy, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"accuracy must be a square (T, T) matrix with T >= 2, got shape "
                         f"{a.shape}")
    t = a.shape[0]
    per_task = np.array([a[j:t - 1, j].max() - a[t - 1, j] for j in range(t - 1)])
    return float(per_task.mean()), per_task


@torch.no_grad()
def evaluate_tasks(model: nn.Module, data: ClassIncrementalData, *,
                   batch_size: int = 4096) -> np.ndarray:
    """Test accuracy on each task's classes (prediction over all classes), ``(tasks,)``.

    The model is put in eval mode (activity counts are not updated) and restored after.
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    was_training = model.training
    model.eval()
    try:
        predictions = []
        for start in range(0, data.x_test.shape[0], batch_size):
            logits = model(data.x_test[start:start + batch_size])
            predictions.append(logits.argmax(dim=1))
        predicted = torch.cat(predictions).to(data.y_test.device)
        correct = (predicted == data.y_test).to(torch.float64)
        out = np.zeros(data.n_tasks)
        for t, classes in enumerate(data.task_classes):
            mask = torch.isin(data.y_test, torch.tensor(classes, device=data.y_test.device))
            out[t] = float(correct[mask].mean())
        return out
    finally:
        model.train(was_training)


def train_class_incremental(model: nn.Module, data: ClassIncrementalData, *, epochs: int,
                            lr: float, batch_size: int = 32, grad_clip: float | None = None,
                            seed: SeedLike = 0,
                            progress: Callable[[int, int], None] | None = None
                            ) -> ContinualResult:
    r"""Train ``model`` on the tasks one after the other with plain SGD; evaluate after each.

    For each task :math:`t` in order: ``epochs`` passes over that task's training samples
    only (shuffled each epoch, minibatches of ``batch_size``), cross-entropy over all
    classes, the plain SGD step :math:`\theta \leftarrow \theta - \eta \nabla L` (no
    momentum, no weight decay: what ``torch.optim.SGD(lr=lr)`` does, written out because
    building a ``torch.optim`` optimiser imports ``torch._dynamo``, seconds on a small CPU),
    and ``model.project_()`` after every step. After each task, the test
    accuracy of every task is recorded.

    Parameters
    ----------
    model
        :class:`SDMMLP` or :class:`ReLUMLP` (any module with ``project_()``,
        ``dead_neurons`` and ``in_features``/``out_features``).
    data
        From :func:`make_class_incremental_task`; moved to the model's device.
    epochs
        Passes over each task's training data.
    lr
        SGD learning rate.
    batch_size
        Minibatch size.
    grad_clip
        Clip the global gradient norm to this value before each step (None: no clipping).
    seed
        Seed of the shuffling order.
    progress
        Called as ``progress(done, total)`` after every epoch.

    Returns
    -------
    ContinualResult
    """
    if not isinstance(model, nn.Module) or not hasattr(model, "project_"):
        raise TypeError("model must be an SDMMLP or ReLUMLP (an nn.Module with project_())")
    if not isinstance(data, ClassIncrementalData):
        raise TypeError(f"data must be a ClassIncrementalData, got {type(data).__name__}")
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_real("lr", lr, minimum=0.0, strict_minimum=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if grad_clip is not None:
        grad_clip = check_real("grad_clip", grad_clip, minimum=0.0, strict_minimum=True)
    if model.in_features != data.x_train.shape[1]:
        raise ValueError(f"data must have dimension in_features={model.in_features}, got "
                         f"{data.x_train.shape[1]}")
    if model.out_features < data.spec.n_classes:
        raise ValueError(f"model must have out_features >= n_classes={data.spec.n_classes}, "
                         f"got {model.out_features}")
    weight = next(model.parameters())
    generator = torch_generator(seed, "train_class_incremental", "shuffle")
    params = [p for p in model.parameters() if p.requires_grad]
    loss_fn = nn.CrossEntropyLoss()
    n_tasks = data.n_tasks
    accuracy = np.zeros((n_tasks, n_tasks))
    losses: list[float] = []
    total, done = n_tasks * epochs, 0
    start = time.perf_counter()
    model.train()
    for task in range(n_tasks):
        x_task, y_task = data.split(task, train=True)
        x_task = x_task.to(device=weight.device, dtype=weight.dtype)
        y_task = y_task.to(device=weight.device)
        m = x_task.shape[0]
        for _epoch in range(epochs):
            order = torch.randperm(m, generator=generator).to(weight.device)
            running = torch.zeros((), device=weight.device, dtype=torch.float64)
            for begin in range(0, m, batch_size):
                idx = order[begin:begin + batch_size]
                for p in params:
                    p.grad = None
                loss = loss_fn(model(x_task[idx]), y_task[idx])
                loss.backward()
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                with torch.no_grad():  # plain SGD step: p <- p - lr * grad
                    for p in params:
                        if p.grad is not None:
                            p.add_(p.grad, alpha=-lr)
                model.project_()
                running += loss.detach().to(torch.float64) * idx.numel()
            losses.append(float(running) / m)
            done += 1
            if progress is not None:
                progress(done, total)
        accuracy[task] = evaluate_tasks(model, data)
    elapsed = time.perf_counter() - start
    sizes = np.array([float(torch.isin(data.y_test, torch.tensor(c, device=data.y_test.device))
                            .sum()) for c in data.task_classes])
    seen = np.array([(accuracy[t, :t + 1] * sizes[:t + 1]).sum() / sizes[:t + 1].sum()
                     for t in range(n_tasks)])
    mean_forgetting, per_task = forgetting(accuracy)
    final = float((accuracy[-1] * sizes).sum() / sizes.sum())
    return ContinualResult(accuracy=accuracy, seen_accuracy=seen, final_accuracy=final,
                           forgetting=mean_forgetting, per_task_forgetting=per_task,
                           dead_neurons=int(model.dead_neurons), train_seconds=elapsed,
                           losses=losses)


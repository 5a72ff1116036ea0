"""The fields of a run configuration, generated from the core's schema (``dcl_config_schema``)
by ``python -m dclkit._generate``: do not edit; ``test_schema.py`` checks that it is current."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

METHODS = ("simclr", "dcl", "dclw", "moco", "moco-dcl", "mochi", "nnclr", "nnclr-dcl", "barlow-twins", "vicreg", "simsiam", "byol",)
"""The methods of the core's registry, in its order."""


@dataclass
class ConfigFields:
    """Every field of a run configuration; ``None`` takes the default the core fills in."""

    method: Optional[str] = None
    """the method (see the method table); one of simclr, dcl, dclw, moco, moco-dcl, mochi, nnclr, nnclr-dcl, barlow-twins, vicreg, simsiam, byol; default "dcl"."""

    arch: Optional[str] = None
    """the ResNet depth; one of resnet18, resnet34, resnet50; default "resnet18"."""

    stem: Optional[str] = None
    """the first layers: cifar (3x3 conv, no max-pool) or imagenet (7x7/2 conv + max-pool); one of cifar, imagenet; default "cifar"."""

    width: Optional[float] = None
    """channel width multiplier (1 = torchvision's widths); in (0, 16]; default 1."""

    head: Optional[str] = None
    """the projection head; one of simclr, moco, barlowtwins, simsiam; default the method's head."""

    head_dims: Optional[tuple[int, int]] = None
    """the head's hidden and output sizes; integers in [1, 65536]; default the method's sizes ([F, 128] unless the README's methods section says otherwise), F the encoder's feature dimension."""

    batch_size: Optional[int] = None
    """images per step, B; an integer in [2, 65536]; default 256."""

    epochs: Optional[int] = None
    """epochs of the whole run (the schedule's length); an integer in [1, 1048576]; default 100."""

    image_size: Optional[int] = None
    """side of the training views; an integer in [1, 4096]; default 32."""

    optimizer: Optional[str] = None
    """the optimiser; one of sgd, lars; default "sgd"."""

    lr: Optional[float] = None
    """the peak learning rate (absolute); in (0, 10000]; default the method's base rate for the optimiser × batch_size / 256."""

    momentum: Optional[float] = None
    """the optimiser's momentum; in [0, 1); default 0.9."""

    weight_decay: Optional[float] = None
    """weight decay (every parameter but BatchNorm parameters and biases); in [0, 1]; default 0.0005."""

    warmup_epochs: Optional[int] = None
    """epochs of linear warm-up before the cosine decay; an integer in [0, 1048576]; default 10."""

    augment: Any = None
    """a preset name or an object of overrides with an optional "pipeline" key; a preset (simclr, mocov2) or an object of overrides; default the method's preset."""

    seed: Optional[int] = None
    """seed of the initial weights, the epoch order, the augmentation and the method's draws; an integer in [0, 9007199254740991]; default 0."""

    sync_bn: Optional[bool] = None
    """BatchNorm over the global batch of all ranks (SyncBN); true or false; default false."""

    view_batchnorm: Optional[str] = None
    """BatchNorm statistics in training over both views as one batch (joint) or over each view on its own (per_view); one of joint, per_view; default "joint"."""

    temperature: Optional[float] = None
    """τ of the loss's similarities; in [0.001, 1000]; default per method: simclr 0.1, dcl 0.1, dclw 0.1, moco 0.2, moco-dcl 0.2, mochi 0.2, nnclr 0.1, nnclr-dcl 0.1. Used by simclr, dcl, dclw, moco, moco-dcl, mochi, nnclr, nnclr-dcl."""

    sigma: Optional[float] = None
    """DCLW's sigma of the positive weighting (dclw only); in [0.001, 1000]; default 0.5. Used by simclr, dcl, dclw."""

    queue_size: Optional[int] = None
    """K, the length of the queue of negatives (a multiple of batch_size); an integer in [1, 16777215]; default 65536. Used by moco, moco-dcl, mochi."""

    momentum_encoder: Optional[float] = None
    """m of the key encoder's update θ_k ← m·θ_k + (1 − m)·θ_q; in [0, 1); default 0.999. Used by moco, moco-dcl, mochi."""

    shuffle_bn_groups: Optional[int] = None
    """BatchNorm groups of the shuffled key batch (single-process shuffle-BN); an integer in [1, 65536]; default 4. Used by moco, moco-dcl, mochi."""

    queue_warmup: Optional[bool] = None
    """the first queue_size / batch_size steps only fill the queue with real keys (docs/MOCO_TRAINING.md); true or false; default true. Used by moco, moco-dcl, mochi."""

    symmetric: Optional[bool] = None
    """also swap the views and average the two losses; true or false; default false. Used by moco, moco-dcl, mochi."""

    mochi_n_hard: Optional[int] = None
    """N, the hardest negatives of each query mixed from (at most queue_size; mochi only); an integer in [1, 16777215]; default min(1024, queue_size). Used by moco, moco-dcl, mochi."""

    mochi_s: Optional[int] = None
    """s, mixes of two hard negatives per query (mochi only); an integer in [0, 65536]; default 256. Used by moco, moco-dcl, mochi."""

    mochi_s_prime: Optional[int] = None
    """s′, mixes of the query with a hard negative per query (mochi only); an integer in [0, 65536]; default 256. Used by moco, moco-dcl, mochi."""

    mochi_start_epoch: Optional[int] = None
    """the first epoch that mixes (mochi only); an integer in [0, 1048576]; default 0. Used by moco, moco-dcl, mochi."""

    support_size: Optional[int] = None
    """K of the support set of past projections (the paper's 98304 at batch 4096); an integer in [1, 16777215]; default 24 × batch_size. Used by nnclr, nnclr-dcl."""

    barlow_lambda: Optional[float] = None
    """λ, the weight of the cross-correlation's off-diagonal terms (the paper's 5e-3 at D = 8192; about 1/D for small projectors); in [0, 10000]; default 0.005. Used by barlow-twins."""

    invariance_weight: Optional[float] = None
    """λ, the weight of the invariance term mean((Z − Z′)²); in [0, 10000]; default 25. Used by vicreg."""

    variance_weight: Optional[float] = None
    """μ, the weight of the variance hinge ½[v(Z) + v(Z′)]; in [0, 10000]; default 25. Used by vicreg."""

    covariance_weight: Optional[float] = None
    """ν, the weight of the covariance term c(Z) + c(Z′); in [0, 10000]; default 1. Used by vicreg."""

    target_momentum: Optional[float] = None
    """τ_base of the target network's update ξ ← τ ξ + (1 − τ) θ, τ rising to 1 on a cosine over the run; in [0, 1); default 0.996. Used by byol."""

"""kdehist: a differentiable kernel-density colour histogram and the colour-conditioned,
spectral-normalised CycleGAN that uses it.

The top level re-exports the histogram core and the shipped generator
(``pretrained_generator``, ``translate``: :mod:`kdehist.pretrained`); the model, data,
training and evaluation code lives in the submodules ``kdehist.data``,
``kdehist.models``, ``kdehist.train`` and ``kdehist.evaluate``.
"""

from .color import delta_e, jis_class, mean_lab, to_lab
from .histogram import SoftHistogram, hard_histogram, kde_density, soft_histogram
from .losses import histogram_loss
from .pretrained import pretrained_generator, translate
from .profiles import current_profile

__version__ = "0.1.0"

__all__ = [
    "SoftHistogram",
    "current_profile",
    "delta_e",
    "hard_histogram",
    "histogram_loss",
    "jis_class",
    "kde_density",
    "mean_lab",
    "pretrained_generator",
    "soft_histogram",
    "to_lab",
    "translate",
]

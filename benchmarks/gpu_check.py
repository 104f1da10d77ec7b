"""Time the gpu profile on this runtime and project Part III's hours (see
:mod:`kdehist.gpu_check`).

    python benchmarks/gpu_check.py          # in a checkout
    !python -m kdehist.gpu_check            # on Colab, in one cell, kdehist installed

On a GPU it times a few gpu-profile training steps at the profile's autocast precision
and one evaluation batch, then prints the projected hours of Part III's runs (training
and evaluation). On a CPU it rehearses the same code path with tiny networks and says
that it is not a GPU.
"""

from kdehist.gpu_check import main

if __name__ == "__main__":
    raise SystemExit(main())

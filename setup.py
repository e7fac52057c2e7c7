"""The one compiled part: the Box-Muller kernel of the DP noise (privacy/dp/_boxmuller.c).

Everything else about the distribution is in pyproject.toml. The kernel is built on x86-64 Linux
with glibc only, and is optional there too: where it cannot be built (no C compiler), the build
goes on without it and auditkit.privacy.dp draws its noise with torch ops instead (same layout,
same formulas).
AUDITKIT_NO_KERNEL=1 leaves it out on purpose: a pure-Python wheel that installs on any Python
3.10+ (for a machine where this one's compiled wheel would not fit, e.g. a GPU machine, where the
noise is drawn on the device anyway).
"""

import os
import platform
import sys

from setuptools import Extension, setup

#: where the kernel can be fast: glibc's vector maths (libmvec) on x86-64; elsewhere it is not
#: built at all (no compiler needed) and the torch ops draw the noise
_KERNEL = (sys.platform.startswith("linux") and platform.machine() == "x86_64"
           and platform.libc_ver()[0] == "glibc" and os.environ.get("AUDITKIT_NO_KERNEL") != "1")

setup(
    ext_modules=[
        Extension(
            "auditkit.privacy.dp._boxmuller",
            sources=["privacy/dp/_boxmuller.c"],
            # libmvec for log, cos and sin; no -ffast-math: strict IEEE arithmetic everywhere
            # else, and no process-wide flush-to-zero from crtfastmath
            extra_compile_args=["-O3", "-fno-math-errno", "-fopenmp-simd"],
            libraries=["mvec", "m"],
            optional=True,
        )
    ] if _KERNEL else [],
)

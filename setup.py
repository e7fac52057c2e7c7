"""The one compiled part: the Box-Muller kernel of the DP noise (privacy/dp/_boxmuller.c).

Everything else about the distribution is in pyproject.toml. The kernel is optional: where it
cannot be built (no C compiler, another C library), the build goes on without it and
auditkit.privacy.dp draws its noise with torch ops instead (same layout, same formulas).
AUDITKIT_NO_KERNEL=1 leaves it out on purpose: a pure-Python wheel that installs on any Python
3.10+ (for a machine where this one's compiled wheel would not fit, e.g. a GPU machine, where the
noise is drawn on the device anyway).
"""

import os
import platform
import sys

from setuptools import Extension, setup

_GLIBC_X86_64 = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64") \
    and platform.libc_ver()[0] == "glibc"

setup(
    ext_modules=[] if os.environ.get("AUDITKIT_NO_KERNEL") == "1" else [
        Extension(
            "auditkit.privacy.dp._boxmuller",
            sources=["privacy/dp/_boxmuller.c"],
            # libmvec (glibc's vector maths) for log, cos and sin; no -ffast-math: strict IEEE
            # arithmetic everywhere else, and no process-wide flush-to-zero from crtfastmath
            extra_compile_args=["-O3", "-fno-math-errno", "-fopenmp-simd"] if _GLIBC_X86_64 else [],
            libraries=["mvec", "m"] if _GLIBC_X86_64 else [],
            optional=True,
        )
    ],
)

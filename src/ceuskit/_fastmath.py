"""exp and log that a compiled loop can vectorise (compiled, float64, within 3 ulp of libm).

Used by the fit kernels, the map's frame pass and the onset's dB scale.  numba calls the C library's scalar
``exp`` and ``log`` unless it finds Intel's SVML, and a loop that calls them runs one sample at a time.  These
are written in arithmetic and bit operations only, so LLVM turns a loop over samples into SIMD code.  Both follow fdlibm (Sun Microsystems, 1993; the algorithm of
``__ieee754_exp``/``__ieee754_log`` as in FreeBSD's msun):

* exp: x = k·ln 2 + r with |r| ≤ ln 2 / 2 (Cody–Waite: ln 2 split into a high part exact in k·ln2_hi and a
  low part), e^r by its degree-12 Taylor polynomial (remainder below 2·10⁻¹⁶ on that interval), times 2^k
  built in the exponent bits.
* log: x = 2^e·m with m in [√½, √2), f = m − 1, s = f/(2 + f), log(1 + f) = f − f²/2 + s·(f²/2 + R(s²)) with
  fdlibm's degree-14 minimax R (error below 2⁻⁵⁸·|f|), plus e·ln 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["EXP_MIN", "fast_exp", "fast_log"]

EXP_MIN = -708.0
"""Below this argument :func:`fast_exp` returns 0 (e^−708 ≈ 3·10⁻³⁰⁸, the smallest normal double's order)."""
_EXP_TOP = 709.0  # arguments above are capped here (e^709 ≈ 8·10³⁰⁷)

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm: ln 2 split so that k·_LN2_HI is exact for |k| < 2¹¹
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5, _LG6, _LG7 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01, \
    1.479819860511658591e-01
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000


def _bits_codegen(typingctx: Any, x: Any) -> Any:
    """Typing and code of :func:`_bits`: the IEEE-754 bits of a float64 as an int64 (a register move)."""
    if x != types.float64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


def _from_bits_codegen(typingctx: Any, x: Any) -> Any:
    """Typing and code of :func:`_from_bits`: the float64 whose IEEE-754 bits are the int64 ``x``."""
    if x != types.int64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_bits = cast(Callable[[float], int], intrinsic(_bits_codegen))
_from_bits = cast(Callable[[int], float], intrinsic(_from_bits_codegen))


# Both are compiled eagerly, with their own (strict) floating-point semantics: compiled lazily from inside a
# fast-math loop, numba would compile them with that loop's flags, and reassociation would undo the exact
# argument reduction (errors of 10⁻¹³ instead of 10⁻¹⁶).
@njit("float64(float64)", cache=True, error_model="numpy")
def fast_exp(x: float) -> float:
    """e^x for finite x: 0 below :data:`EXP_MIN`, e^709 above 709, else within 3 ulp of ``math.exp``."""
    xc = min(max(x, EXP_MIN), _EXP_TOP)
    k = float(int(xc * _LOG2E + 0.5 + 1024.0) - 1024)  # round to nearest without a libm call
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    value = p * _from_bits((int(k) + 1023) << 52)
    return value if x >= EXP_MIN else 0.0


@njit("float64(float64)", cache=True, error_model="numpy")
def fast_log(x: float) -> float:
    """Return ln x for a positive normal x, within 2 ulp of ``math.log`` (undefined for x ≤ 0, inf, NaN)."""
    bits = _bits(x)
    e = (bits >> 52) - 1023
    m = _from_bits((bits & _MANTISSA) | _ONE_BITS)  # x = 2^e · m, m in [1, 2)
    big = m > _SQRT2
    m = 0.5 * m if big else m
    k = float(e + 1) if big else float(e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)

"""The one way the pack compiles numba kernels: an explicit signature, compiled on first call, cached on disk."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def readonly(dtype: str, ndim: int) -> str:
    """numba's short dtype name and a number of dimensions -> the signature text of a C-contiguous array
    argument that may be read-only (a picture from PIL is) or writable."""
    return f"Array({dtype}, {ndim}, 'C', readonly=True)"


def writable(dtype: str, ndim: int) -> str:
    """numba's dtype name and a number of dimensions -> the signature text of a writable C-contiguous array argument."""
    return f"Array({dtype}, {ndim}, 'C')"


def kernel(signature: str, helpers: tuple[Callable[..., Any], ...] = ()) -> Callable[[F], F]:
    """A numba type signature and the small functions the kernel calls -> decorator making the function a nogil
    kernel of exactly that signature.

    numba is imported and the kernel compiled (or read from numba's disk cache) the first time it
    is called, so importing the pack stays cheap; one signature means one compiled version, and an
    argument of another type or layout is an error rather than a silent recompilation. The helpers
    are plain functions of the kernel's module: before the kernel compiles, each is replaced there
    by its numba version, inlined into the kernel.
    """

    def wrap(fn: F) -> F:
        @functools.cache
        def compiled() -> Callable[..., Any]:
            import numba

            for helper in helpers:
                jitted = fn.__globals__.get(helper.__name__)
                if not isinstance(jitted, numba.core.registry.CPUDispatcher):
                    fn.__globals__[helper.__name__] = numba.njit(inline="always", cache=True, nogil=True)(helper)
            return numba.njit(signature, cache=True, nogil=True)(fn)

        @functools.wraps(fn)
        def call(*args: Any) -> Any:
            return compiled()(*args)

        call.py_func = fn  # type: ignore[attr-defined]  # the plain Python version, for reading and debugging
        return call  # type: ignore[return-value]

    return wrap

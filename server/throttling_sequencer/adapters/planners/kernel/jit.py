"""The decorator every kernel here uses: nopython, no GIL, cached on disk, and recompiled when
any module of this package changes.

numba checks a cached function against its own source file only, so a kernel would go on
running the old code of a function it calls from another module after that module changed
(numba's docs on caching; numba issues 1833, 9483). Here every kernel's cache stamp is a hash
of all the package's modules instead: an edit anywhere recompiles them all.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from numba import njit
from numba.core.caching import CompileResultCacheImpl, FunctionCache

PACKAGE = Path(__file__).resolve().parent
F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def package_stamp() -> str:
    """A hash of every module of the kernel package (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class _PackageStamp:
    def get_source_stamp(self) -> str:
        return package_stamp()


def _stamped(locator: type[object]) -> type[object]:
    return type(f"PackageStamped{locator.__name__}", (_PackageStamp, locator), {})


class _PackageCacheImpl(CompileResultCacheImpl):
    # numba's own locators (NUMBA_CACHE_DIR, __pycache__, ...) in its order, package-stamped.
    _locator_classes = [  # noqa: RUF012 (numba's attribute, a list)
        _stamped(locator) for locator in CompileResultCacheImpl._locator_classes
    ]


class _PackageCache(FunctionCache):
    _impl_class = _PackageCacheImpl


def kernel(function: F) -> F:
    """`njit(nogil=True, cache=True)`, with the package-wide cache stamp."""
    dispatcher = njit(nogil=True)(function)
    # What cache=True does (Dispatcher.enable_caching), with the package-stamped cache.
    dispatcher._cache = _PackageCache(dispatcher.py_func)  # type: ignore[attr-defined,no-untyped-call]
    return cast(F, dispatcher)

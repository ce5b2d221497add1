"""Compiled planner kernels (numba, nopython, nogil, cached on disk).

Adapters over the readable reference in `domain/`: tests hold each kernel to it. Kernels take
plain numbers and numpy arrays only, so each compiles to one signature that `warm_up` loads.
"""

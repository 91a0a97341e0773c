"""Foundation: settings, the model registry, the streamlit boundary."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workbench.models.registry import ModelError, is_complete, resolve_local
from workbench.settings import BUNDLED_GENERATOR, Settings

REPO = Path(__file__).resolve().parents[1]


def test_settings_from_env_reads_every_variable(tmp_path):
    s = Settings.from_env({
        "WORKBENCH_STORAGE": str(tmp_path / "st"), "WORKBENCH_MAX_UPLOAD_MB": "7.5",
        "WORKBENCH_MAX_FILES": "3", "WORKBENCH_CHROMA_URL": "http://127.0.0.1:9",
        "WORKBENCH_ENDPOINT_URL": "http://127.0.0.1:11434/v1", "OPENAI_API_KEY": "sk-x",
        "HF_HUB_OFFLINE": "1", "WORKBENCH_DEVICE": "cpu",
    })
    assert s.storage == (tmp_path / "st").resolve()
    assert s.max_upload_mb == 7.5 and s.max_files_per_upload == 3
    assert s.chroma_url == "http://127.0.0.1:9" and s.endpoint_api_key == "sk-x"
    assert s.device == "cpu" and s.offline
    assert s.models_dir == s.storage / "models"
    assert "sk-x" not in repr(s)
    assert not s.prompt_cache  # off unless switched on
    for on in ("1", "true", "ON"):
        assert Settings.from_env({"WORKBENCH_PROMPT_CACHE": on}).prompt_cache
    assert not Settings.from_env({"WORKBENCH_PROMPT_CACHE": "0"}).prompt_cache


def test_settings_defaults_and_dirs(tmp_path):
    s = Settings.from_env({"WORKBENCH_STORAGE": str(tmp_path)}).ensure_dirs()
    assert s.generator_model == BUNDLED_GENERATOR
    for d in (s.models_dir, s.chroma_dir, s.jobs_dir, s.adapters_dir, s.evals_dir):
        assert d.is_dir()


def test_missing_local_model_is_a_clear_error(tmp_path, settings):
    with pytest.raises(ModelError, match="not found"):
        resolve_local(str(tmp_path / "nope"), settings, "generator")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        resolve_local(str(tmp_path / "empty"), settings, "generator")
    with pytest.raises(ModelError, match="offline"):
        resolve_local("someorg/somemodel", settings, "generator")


def test_broken_model_folder_gives_model_error(tmp_path, settings):
    from workbench.models.generator import LocalGenerator

    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="Could not load"):
        LocalGenerator("broken", str(bad), "cpu", None)


def test_interrupted_conversion_is_never_loaded(tmp_path, monkeypatch):
    """A crash midway leaves no folder a later start would take as converted."""
    from workbench.models import convert

    def crash(src, folder):
        (folder / "config.json").write_text("{}")
        raise RuntimeError("power cut")

    monkeypatch.setattr(convert, "_convert_into", crash)
    out = tmp_path / "models" / "gen"
    with pytest.raises(ModelError, match="power cut"):
        convert.convert_gguf(tmp_path / "x.gguf", out)
    assert not out.exists() and not is_complete(out)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".gen.tmp")]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_streamlit_outside_ui():
    offenders = [
        str(p.relative_to(REPO)) for p in (REPO / "workbench").rglob("*.py")
        if "ui" not in p.relative_to(REPO / "workbench").parts[:1] and "streamlit" in _imports(p)
    ]
    assert offenders == []


def test_boundary_check_catches_a_streamlit_import(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("from streamlit import session_state\n")
    assert "streamlit" in _imports(p)


def test_generation_dtype_follows_the_setting(tmp_path):
    import torch

    from workbench.models.registry import cpu_has_native_bf16, generation_device

    def dtype(value):
        return generation_device(Settings.from_env({"WORKBENCH_STORAGE": str(tmp_path), "WORKBENCH_DEVICE": "cpu",
                                                    "WORKBENCH_CPU_DTYPE": value}))
    assert dtype("float32") == ("cpu", torch.float32)
    assert dtype("bfloat16") == ("cpu", torch.bfloat16)
    assert dtype("auto")[1] == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    with pytest.raises(ModelError, match="WORKBENCH_CPU_DTYPE"):
        dtype("int3")

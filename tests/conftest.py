"""Shared fixtures: lowerings are expensive, so small models are lowered once per session."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore")
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Tests never read or fill the user's program cache."""
    old = os.environ.get("ETWB_CACHE_DIR")
    os.environ["ETWB_CACHE_DIR"] = str(tmp_path_factory.mktemp("etwb-cache"))
    yield
    if old is None:
        os.environ.pop("ETWB_CACHE_DIR", None)
    else:
        os.environ["ETWB_CACHE_DIR"] = old


FIXTURES = Path(__file__).parent / "fixtures"
OUTPUT = Path(__file__).parent / "_output"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def teaching_xnnpack(tmp_path_factory):
    """teaching_net lowered with XNNPACK: delegated conv/relu/linear, CPU mean/cumsum."""
    from etworkbench import lower

    return lower("teaching_net", ["xnnpack"], out_dir=tmp_path_factory.mktemp("teaching"))

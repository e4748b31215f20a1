"""The model zoo and user models.

A model is resolved to a `ModelSpec`: a name, an eval-mode `nn.Module` and a tuple of example
inputs. Built-in models never download weights (torchvision with `weights=None`, fixed seed).
A user model is `path/to/file.py:factory` or `package.module:factory`, where `factory()`
returns `(module, example_inputs)`.
"""

from __future__ import annotations

from ._spec import LazyZooSpec, ModelSpec, ZooEntry, list_models, load_model

__all__ = ["LazyZooSpec", "ModelSpec", "ZooEntry", "list_models", "load_model"]

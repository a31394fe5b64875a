"""Model registry and architectures (dropout placement documented in docs/models.md)."""

from weightspace.models.registry import MODELS, ModelInfo, create_model

__all__ = ["MODELS", "ModelInfo", "create_model"]

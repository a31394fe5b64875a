"""Offline dataset loaders, the augmentation ladder and OOD corruptions.

Images are ``torch.uint8 (N, C, H, W)``; labels ``torch.int64 (N,)``.
"""

from weightspace.data.augment import AUGMENTATIONS, OPS, Augment, make_augment, policy_strength
from weightspace.data.corrupt import CORRUPTIONS, corrupt
from weightspace.data.datasets import DATASETS, load_dataset
from weightspace.data.imageset import ImageSet, stratified_subset, train_val_split

__all__ = [
    "AUGMENTATIONS",
    "CORRUPTIONS",
    "DATASETS",
    "OPS",
    "Augment",
    "ImageSet",
    "corrupt",
    "load_dataset",
    "make_augment",
    "policy_strength",
    "stratified_subset",
    "train_val_split",
]

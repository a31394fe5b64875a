"""WeightWatcher 0.7.7's module constants (``from weightwatcher.constants import *``).

The same names and values, so that scripts written against WeightWatcher keep working after
the one-line import switch: option keys (``MIN_EVALS``, ``PL_PACKAGE``, ...), option values
(``POWERLAW_PACKAGE``, ``XMAX_FORCE``, ``E_TPL``, ...), ``DEFAULT_PARAMS`` and the
``LAYER_TYPE`` / ``FRAMEWORK`` / ``CHANNELS`` / ``MODEL_FILE_FORMATS`` / ``METRICS`` name
spaces. Options that weightspace does not implement keep their names here; passing a
non-default value for one still raises ``UnsupportedOption``.
"""

from __future__ import annotations

from enum import IntFlag, auto
from typing import Any

WW_NAME = "weightwatcher"
ERROR = -1
DEF_SAVE_DIR = "ww-img"

# option keys of the params dictionaries
LAYERS = "layers"
START_IDS = "layer_ids_start"
SVD_METHOD = "svd_method"
XMIN_MAX = "xmin_max"
MAX_FINGERS = "MAX_FINGERS"
FIT = "fit"
PL_PACKAGE = "pl_package"
XMAX = "xmax"
FIX_FINGERS = "fix_fingers"
GLOROT_FIX = "glorot_fix"
NORMALIZE = "normalize"
SAVEFIG = "savefig"
SAVEDIR = "savedir"
DELTA_ES = "deltaEs"
INTRA = "intra"
FFT = "fft"
CONV2D_NORM = "conv2d_norm"
CONV2D_FFT = "conv2d_fft"
FINGER_THRESH = "finger_thresh"
GLOROT_FIT = "glorot_fit"
WW2X = "ww2x"
POOL = "pool"
PEFT = "peft"
VECTORS = "vectors"
SMOOTH = "smooth"
MP_FIT = "mp_fit"
RESCALE = "rescale"
RANDOMIZE = "randomize"
SPARSIFY = "sparsify"
DETX = "detX"
LAMBDA_MIN = "alpha_min"
AUTO = "auto"
MIN_EVALS = "min_evals"
MAX_EVALS = "max_evals"
MAX_N = "max_N"
PLOT = "plot"
STACKED = "stacked"
CHANNELS_STR = "channels"
TOLERANCE = "tolerance"
ADD_BIASES = "add_biases"
INVERSE = "inverse"

# option values
TRUNCATED_SVD = TRUNCATED = "truncated"
ACCURATE_SVD = ACCURATE = "accurate"
FAST_SVD = FAST = "fast"
VALID_SVD_METHODS = [FAST_SVD, ACCURATE_SVD]
XMIN_PEAK = "xmin_peak"
CLIP_XMAX = "clip_xmax"
SVD = "svd"
RMT = "rmt"
PL = "PL"
POWER_LAW = "power_law"
POWERLAW = "powerlaw"
POWERLAW_PACKAGE = "powerlaw"
WW_POWERLAW_PACKAGE = WW_POWERLAW = DEFAULT_POWERLAW_PACKAGE = "ww"
WW_CONFIG_FILENAME = "ww_config.json"
PYTORCH = "pytorch"
TENSORFLOW = "tensorflow"
XMAX_FORCE = FORCE = "force"
DEFAULT_XMAX = None
TPL = "TPL"
TRUNCATED_POWER_LAW = "truncated_power_law"
E_TPL = "E_TPL"
LOG_NORMAL = "lognormal"
EXPONENTIAL = "exponential"
EUCLIDEAN = "euclidean"
CKA = "cka"
RAW = "raw"
SUCCESS = "success"
FAILED = "failed"
OVER_TRAINED = "over-trained"
UNDER_TRAINED = "under-trained"
OVER_TRAINED_THRESH = 2.0
UNDER_TRAINED_THRESH = 6.0
FIRST = "first"
LAST = "last"
PEFT_WITH_BASE = "with_base"

# defaults
DEFAULT_MAX_FINGERS = 10
DEFAULT_FINGER_THRESH = 1.0
DEFAULT_WW2X = False
DEFAULT_POOL = True
DEFAULT_MIN_EVALS = MIN_NUM_EVALS = 8
DEFAULT_MAX_EVALS = MAX_NUM_EVALS = 15000
DEFAULT_MAX_N = 50000
WEAK_RANK_LOSS_TOLERANCE = 0.000001
DEFAULT_PEFT = False
DEFAULT_START_ID = 0
EVALS_THRESH = 1e-5
EPSILON = 1e-10
EVALS_HALF_THRESH = 1e-4
HALF_EPSILON = 6e-05

DEFAULT_PARAMS: dict[str, Any] = {
    GLOROT_FIX: False, NORMALIZE: False, CONV2D_NORM: True, RANDOMIZE: True,
    SAVEDIR: DEF_SAVE_DIR, SAVEFIG: True, RESCALE: True, PLOT: False, DELTA_ES: False,
    INTRA: False, CHANNELS_STR: None, FFT: False, CONV2D_FFT: False, WW2X: DEFAULT_WW2X,
    POOL: DEFAULT_POOL, VECTORS: True, SMOOTH: None, STACKED: False, SVD_METHOD: FAST_SVD,
    FIX_FINGERS: None, FIT: POWER_LAW, MAX_FINGERS: DEFAULT_MAX_FINGERS,
    FINGER_THRESH: DEFAULT_FINGER_THRESH, SPARSIFY: True, DETX: True, MP_FIT: False,
    MIN_EVALS: DEFAULT_MIN_EVALS, MAX_EVALS: DEFAULT_MAX_EVALS, MAX_N: DEFAULT_MAX_N,
    TOLERANCE: WEAK_RANK_LOSS_TOLERANCE, START_IDS: DEFAULT_START_ID, ADD_BIASES: False,
    XMIN_MAX: None, PL_PACKAGE: DEFAULT_POWERLAW_PACKAGE, XMAX: DEFAULT_XMAX,
    PEFT: DEFAULT_PEFT, INVERSE: False,
}  # fmt: skip

# layer types, as the strings of the details' ``layer_type`` column
UNKNOWN = "unknown"
NORM = "norm"
DENSE = "dense"
CONV2D = "conv2d"
CONV1D = "conv1d"
EMBEDDING = "embedding"
BIDIRECTIONAL = "bidirectional"
MBEDDING = EMBEDDING  # (sic): WeightWatcher's spelling


class LAYER_TYPE:
    UNKNOWN = UNKNOWN
    STACKED = "stacked"
    DENSE = DENSE
    CONV1D = CONV1D
    CONV2D = CONV2D
    FLATTENED = "flattened"
    EMBEDDING = EMBEDDING
    BIDIRECTIONAL = BIDIRECTIONAL
    NORM = NORM


LAYER_TYPES_SUPPORTED = [
    LAYER_TYPE.CONV2D, LAYER_TYPE.CONV1D, LAYER_TYPE.DENSE, LAYER_TYPE.EMBEDDING, LAYER_TYPE.NORM,
]  # fmt: skip

KERAS = "keras"
KERAS_H5_FILE = "keras_h5_file"
SOURCE = "source"
PYSTATEDICT = "pystatedict"
ONNX = "onnx"
WW_FLATFILES = "ww_flatfiles"
SAFETENSORS = "safetensors"


class FRAMEWORK:
    UNKNOWN = UNKNOWN
    PYTORCH = "pytorch"
    KERAS = "keras"
    ONNX = "onnx"
    PYSTATEDICT = "pystatedict"
    PYSTATEDICT_DIR = "pystatedict_dir"
    WW_FLATFILES = WW_FLATFILES
    KERAS_H5_FILE = "keras_h5_file"


class CHANNELS:
    UNKNOWN = UNKNOWN
    FIRST = "first"
    LAST = "last"


class METHODS(IntFlag):
    DESCRIBE = auto()
    ANALYZE = auto()


class MODEL_FILE_FORMATS:
    PYTORCH = "pytorch"
    SAFETENSORS = "safetensors"
    WW_FLATFILES = WW_FLATFILES
    KERAS_H5_FILE = "keras_h5_file"


class METRICS:
    NORM = "norm"
    LOG_NORM = "log_norm"
    ALPHA = "alpha"
    ALPHA_WEIGHTED = "alpha_weighted"
    LOG_ALPHA_NORM = "log_alpha_norm"
    SPECTRAL_NORM = "spectral_norm"
    LOG_SPECTRAL_NORM = "log_spectral_norm"
    STABLE_RANK = "stable_rank"
    MP_SOFTRANK = "mp_softrank"
    MATRIX_RANK = "matrix_rank"
    MATRIX_ENTROPY = "entropy"


class XMIN(IntFlag):
    UNKNOWN = auto()
    AUTO = auto()

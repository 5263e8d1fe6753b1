"""skdeepsparse: deep sparse coding models as scikit-learn estimators on PyTorch."""

__version__ = "0.1.0"

from ._sparse_coding import sparse_encode
from .exceptions import TrainingDivergedError
from .spike_slab import SpikeSlabGenerator
from .svae import SVAETransformer
from .thresholded_vae import ThresholdedVAE
from .variance_reg import VarianceRegDictionaryLearner

__all__ = [
    "SVAETransformer",
    "SpikeSlabGenerator",
    "ThresholdedVAE",
    "VarianceRegDictionaryLearner",
    "sparse_encode",
    "TrainingDivergedError",
    "__version__",
]

"""Sparse generator with an annealed spike-and-slab prior (Li & Han, 2022)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import BaseSparseEstimator
from ._distributed import all_reduce_, batch_sum, in_batch, is_active
from ._docstrings import fill_doc
from ._sklearn_compat import Interval, StrOptions
from ._validation import check_image_shape, check_layer_sizes, image_shape3
from .distributions import LinearAnnealing, SpikeSlab
from .exceptions import TrainingDivergedError
from .nn import MLP, ConvGenerator
from .solvers import decoder_recon_grad, mlp_recon_grad

__all__ = ["SpikeSlabGenerator"]

_DEFAULT_HIDDEN = {"mlp": (256,), "conv": (64, 32)}
# Up to this many features the linear first guess is the exact ridge regression of
# each epoch's codes (a n_features^2 Gram); above, the optimiser trains it.
_RIDGE_MAX_FEATURES = 4096


def _linear_layers(gen: nn.Module) -> list[nn.Linear]:
    """The layers whose columns ``decoder_norm`` (the first, which reads the
    codes) and ``hidden_norm`` (the others) fix: every Linear of the MLP, the
    conv generator's projection ``fc``."""
    net = gen.net
    if isinstance(net, ConvGenerator):
        return [net.fc]
    return [m for m in net if isinstance(m, nn.Linear)]


class _Generator(nn.Module):
    """``g(z)``: a network followed by the output activation, flat output, and
    (``inference_init="linear"``) the linear first guess ``init(x)`` of the codes."""

    def __init__(self, net: nn.Module, output_activation: str,
                 init: nn.Linear | None = None):
        super().__init__()
        self.net = net
        self.sigmoid = output_activation == "sigmoid"
        self.init = init

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.net(z)
        return torch.sigmoid(out) if self.sigmoid else out


@fill_doc(adam_betas=(0.5, 0.999), validation_fraction=0.0)
class SpikeSlabGenerator(BaseSparseEstimator):
    """Generator-only sparse coding with an annealed spike-and-slab prior.

    The model of Li & Han (2022): ``x = g(z) + eps`` with
    ``eps ~ N(0, likelihood_std^2 I)`` and, independently per latent, the
    two-Gaussian prior::

        p_alpha(z) = alpha N(z; 0, slab_std^2) + (1 - alpha) N(z; 0, spike_std^2)

    There is no encoder. For every mini-batch the codes are *inferred* by
    short-run gradient (optionally Langevin) steps on the log joint density,
    started from ``z0`` (``eta = inference_step_size``,
    ``sigma = likelihood_std``)::

        z <- z + eta [ -(1/(2 sigma^2)) d/dz ||x - g(z)||^2
                       + d/dz log p_alpha(z) ]  (+ sqrt(2 eta) * noise)

    then the generator takes one optimiser step on
    ``(1/(2 sigma^2)) ||x - g(z)||^2`` with the codes held fixed (alternating
    back-propagation). The paper starts every inference at the fixed point
    ``z0 = 0`` (``inference_init="zeros"``); the default starts it at a linear
    map of ``x`` that the same optimiser step fits to the inferred codes
    (``inference_init="linear"``, amortised inference), so that a few steps
    refine a first guess instead of walking from 0, in ``fit`` and in
    ``transform``. ``alpha`` is annealed from ``alpha_init`` (dense;
    ``alpha=1`` is a standard Gaussian prior) towards ``alpha_final`` (mostly
    spike, i.e. sparse): it stays at ``alpha_init`` for ``alpha_warmup_epochs``
    epochs, then drops by ``alpha_decay`` per epoch (or per mini-batch, as in the
    reference code, with ``alpha_decay_unit="iteration"``), floored at
    ``alpha_final``.

    ``alpha_final=1.0`` gives the dense baseline (alternating back-propagation
    with a Gaussian prior), so the paper's comparison is one parameter away.

    **Scaling.** The inference gradient is that of the per-sample log joint
    (squared error *summed* over the pixels of a sample, as in the model); it
    does not depend on the batch size, since each code only enters its own
    sample's term, but the data term grows with the number of pixels, so
    ``inference_step_size`` must be re-tuned for much larger images. The
    generator loss is the per-sample energy *averaged* over the batch (the
    reference sums it; with Adam this only changes the reported value), so
    ``history_["loss"]`` does not depend on ``batch_size``.

    **Cost.** Inference costs ``inference_steps`` forward and backward passes
    (to the codes only, no weight gradients) through the generator per sample:
    about ``4 * inference_steps * (n_components * h + h * n_features)`` flops
    for the one-hidden-layer MLP of width ``h``. It is batched and vectorised,
    ``transform`` included. For MLP generators the backward pass is written by
    hand (no autograd graph), which runs at 80-90 % of the machine's matrix
    product rate; the step count is then the cost, which
    ``inference_momentum`` cuts. Training adds one forward/backward per batch.

    **Defaults.** The defaults are sized for a CPU (issue #32): 128 latents, a
    256-unit hidden layer, 20 epochs with ``alpha`` annealed within them, fixed column norms (an
    identifiable code scale, so that the codes the prior assigns to the spike
    are zeroed at little cost: ``transform_threshold="spike"``), a step size
    from the generator's Lipschitz bound and amortised first guesses refined by
    a few momentum steps. The paper's configuration is
    ``skdeepsparse.registry.make("SpikeSlabGenerator", "paper")``.

    Parameters
    ----------
    n_components : int, default=128
        Number of latents.
    decoder : {"mlp", "conv"}, default="mlp"
        The generator ``g``. ``"mlp"``: ``z -> Linear -> ReLU -> ... ->
        Linear(n_features)``. ``"conv"``: a linear projection to a small
        feature map followed by stride-2 transposed convolutions
        (:class:`~skdeepsparse.nn.ConvGenerator`; needs ``image_shape``).
    decoder_hidden_sizes : tuple of int, default=None
        Hidden widths of the MLP, or the channels of the conv generator's feature
        maps (one upsampling by 2 each). None means ``(256,)`` for ``"mlp"`` (the
        paper's 28x28 model has ``(400,)``; it uses ``(2000, 2000)`` for 32-64 px
        images) and ``(64, 32)`` for ``"conv"``.
    image_shape : tuple of int, default=None
        ``(H, W)`` or ``(C, H, W)``, with the rows of ``X`` flattened
        channels-first. Required by ``decoder="conv"``; when given, its product
        must equal ``n_features``.
    output_activation : {"sigmoid", "identity"}, default="sigmoid"
        ``"sigmoid"`` for data in [0, 1] (images), as in the paper: ``fit``
        warns, naming the observed range, when the data leave [0, 1] (scale
        them with :class:`~sklearn.preprocessing.MinMaxScaler`, or use
        ``"identity"``).
    likelihood_std : float, default=0.3
        Std ``sigma`` of the observation noise, in data units; weighs the data
        term against the prior. With ``output_activation="identity"``,
        ``fit`` warns when the data's root-mean-square is more than 20 times
        larger or smaller than ``sigma``.
    spike_std : float, default=0.1
        Std of the narrow spike component (must be < ``slab_std``).
    slab_std : float, default=1.0
        Std of the wide slab component.
    alpha_init : float, default=1.0
        Slab weight during the warm-up (1 = Gaussian prior).
    alpha_final : float, default=0.001
        Floor of the annealed slab weight. ``1.0`` (with ``alpha_init=1``) gives
        the dense baseline. Must be <= ``alpha_init``.
    alpha_warmup_epochs : int, default=3
        Epochs at ``alpha_init`` before the decay starts.
    alpha_decay : float, default=0.25
        Decrement of ``alpha`` per epoch (or per mini-batch).
    alpha_decay_unit : {"epoch", "iteration"}, default="epoch"
        Decrease ``alpha`` once per epoch, or before every mini-batch after the
        warm-up (the reference code's behaviour, which reaches the floor within
        about 31 mini-batches).
    inference_steps : int, default=10
        Gradient / Langevin steps per batch during training.
    inference_step_size : float or "auto", default="auto"
        Step ``eta`` of the inference update: the codes move by ``eta`` times
        the gradient of ``log p(x, z)`` (Langevin noise, when on, has std
        ``sqrt(2 eta)``). Larger values oscillate or diverge: ``eta`` must stay
        below ``1 / L`` for the curvature ``L`` of ``-log p(x, z)``, which is
        ``1 / spike_std^2`` for the prior near 0 plus the data term's
        ``|J|^2 / sigma^2`` (``J`` the generator's Jacobian), so a fixed value
        depends on the data's scale and the generator's weights. ``"auto"``
        takes ``eta = 1 / L`` with ``L`` measured on the data once, at the first
        mini-batch of a fresh ``fit``: ``L = 1/spike_std^2 + max_i lambda_i /
        sigma^2``, ``lambda_i`` the largest eigenvalue of the data term's
        curvature bound ``J_i^T diag(c) J_i`` at row ``i``'s first guess
        (``J_i`` the Jacobian of the initial generator's pre-activation output,
        by power iteration; ``c`` the output's curvature bound per pixel: 1
        for the identity, ``s'^2 + |x - s| |s''|`` for the sigmoid ``s``). So
        the step follows the data's scale; it then stays fixed (and
        ``transform`` uses it, ``inference_step_size_``): the generator learns
        to be read by that step. (Re-measuring as it trains makes a loop: a
        smaller step makes the generator raise its gain, which lowers the step
        again.) A guard halves it whenever a training batch's inference ends
        at a higher ``-log p(x, z)`` than it started from (the generator's
        curvature can outgrow it when the output is unbounded). The paper's
        value is 1.25e-3 (``delta = 0.05``).
    langevin_noise : bool, default=False
        Add Langevin noise during *training* inference (the paper's default is
        plain gradient ascent). ``transform`` never adds noise.
    persistent : bool, default=False
        Keep one chain per training sample across the epochs of a ``fit`` call
        and start its inference where it stopped last time, instead of at 0
        (the 2020 precursor's persistent chains). Chains belong to the *rows*
        of the ``X`` given to ``fit``: they are reset by a new ``fit`` (kept by
        ``warm_start=True`` when ``X`` has as many rows). ``partial_fit``
        always starts from 0. Memory: ``n_samples * n_components`` numbers.
        ``transform`` still starts from 0.
    transform_alpha : float, default=None
        ``alpha`` of the prior used by ``transform``, ``score`` and ``sample``.
        None means ``alpha_final``.
    transform_inference_steps : int or None, default=3
        Inference steps used by ``transform`` and ``score``, from the first
        guess (``inference_init``); None means ``inference_steps``. The
        linear first guess already holds most of the codes, so a few steps
        refine it; from ``inference_init="zeros"`` use None (the paper runs 30
        steps at test time).
    transform_threshold : float or "spike", default="spike"
        If set, ``transform`` zeroes the codes with ``|z| <= transform_threshold``
        (and ``score`` reconstructs from those codes). ``"spike"`` zeroes every
        code that the transform prior assigns to the spike: ``|z|`` below the
        crossover ``z*`` of ``alpha N(0, slab_std^2)`` and
        ``(1 - alpha) N(0, spike_std^2)`` (0.37 for ``alpha=0.01``, 0.43 for
        0.001; 0 for ``alpha=1``, which has no spike). These are exact zeros that
        cost little reconstruction only when the code scale is identifiable
        (``decoder_norm``). None keeps the codes continuous (the paper). The one
        way to zero small codes (e.g. ``set_params(transform_threshold=0.2)``,
        the reference's rule).
    active_threshold : float, default=0.2
        ``|z|`` above which a latent counts as active in ``history_["active"]``
        (a statistic only: it zeroes no code).
    decoder_norm : float or None, default=1.0
        L2 norm at which every latent's atom is held: the latent's column of
        the generator's first linear layer (the one that reads the codes; the
        conv generator's projection), projected after every optimiser step. For
        a generator without hidden layers these are the dictionary's atoms, as
        in the other estimators. None (the reference) leaves the generator free
        to rescale itself: with short-run inference from 0 it then grows its
        gain and reads codes *inside* the spike, so the annealed codes are
        small but not sparse, and zeroing them destroys the reconstruction.
        Fixed norms make the code scale identifiable: codes are either in the
        slab or negligible (see the docs page for figures).
    hidden_norm : float or None, default=3.0
        L2 norm at which every column of the MLP generator's later linear
        layers (one hidden unit's outgoing weights) is held; None: the same as
        ``decoder_norm``. Fixing the atoms alone leaves one rescaling that
        shrinks the codes without changing ``g`` (codes and first-layer biases
        divided by ``c``, the next layer's columns times ``c``: ReLU is
        positively homogeneous), so both are fixed. The hidden units need a
        larger norm than the atoms for a sigmoid output to reach its range
        (with 1.0 for every layer the default MNIST fit collapses to the mean
        image). The conv generator has no such layer (ignored).
    inference_init : {"linear", "zeros"}, default="linear"
        Where inference starts. ``"zeros"``: ``z0 = 0`` (the paper).
        ``"linear"``: ``z0 = A x + c``, the ridge regression of the codes
        inferred in the previous epoch on their rows (solved exactly at the end
        of every epoch, ridge ``1e-3`` times the mean variance of the features
        times the rows; with more than 4096 features, trained by the optimiser
        on ``||A x + c - z||^2`` instead). It starts at 0, so the first epoch
        starts from 0 as the paper does. Costs one
        ``n_features x n_components`` product per row, about a fifth of an
        inference step of the default generator.
        ``persistent`` chains take precedence in training. With ``"zeros"``,
        set ``transform_inference_steps=None`` (3 steps from 0 are too few).
    inference_momentum : float, default=0.8
        Nesterov momentum ``mu`` of the inference steps (0: the paper's plain
        gradient steps). The gradient is taken at ``y = z + mu (z - z_prev)``
        and ``z_new = y + (delta^2 / 2) grad log p(x, y)``; ``mu=0.8`` with a
        third of the steps reaches the same reconstruction error.
    %(training_parameters)s

    Notes
    -----
    The optimiser trains the generator's weights (the reference code uses Adam
    with learning rate 0.01 for the MLP, 1e-4 for conv). Validation is off by
    default: the annealing makes reconstruction error rise on purpose, and
    keeping the "best" epoch would tend to keep a model from before the prior
    became sparse. When enabled, every epoch is scored with the ``transform``
    inference, so all epochs are compared under the same prior. ``warm_start``
    continues the ``alpha`` schedule where it stopped.

    Attributes
    ----------
    alpha_ : float
        The slab weight used in the last training step.
    inference_step_size_ : float
        The step ``eta`` in use (``inference_step_size``, or its ``"auto"``
        value from the last epoch).
    module_ : torch.nn.Module
        The generator ``g`` (flat output).
    device_ : torch.device
        Where the model lives.
    history_ : list of dict
        Per epoch: ``loss`` (per-sample energy ``||x - g(z)||^2 / (2 sigma^2)``),
        ``mse`` (per pixel), ``prior_nll`` (per-sample ``-log p_alpha(z)``),
        ``alpha``, ``active`` (fraction of ``|z| > active_threshold``),
        ``code_abs`` (mean ``|z|``), ``init_mse`` (``inference_init="linear"``
        with the optimiser-trained map: mean squared error of the first guess
        per code), ``lr``, ``val_loss`` (if validating), ``time``.
    n_iter_ : int
        Epochs run. ``n_steps_``: mini-batches run.
    best_epoch_ : int
        Epoch kept by the validation selection (when used).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string feature names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdeepsparse.spike_slab import SpikeSlabGenerator
    >>> X = load_digits().data / 16
    >>> gen = SpikeSlabGenerator(n_components=32, decoder_hidden_sizes=(128,),
    ...                          max_epochs=3, alpha_warmup_epochs=1, alpha_decay=0.5,
    ...                          random_state=0, device="cpu")
    >>> gen.fit_transform(X).shape
    (1797, 32)
    """

    _parameter_constraints: dict = {
        **BaseSparseEstimator._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "decoder": [StrOptions({"mlp", "conv"})],
        "decoder_hidden_sizes": [tuple, list, None],
        "image_shape": [tuple, list, None],
        "output_activation": [StrOptions({"sigmoid", "identity"})],
        "likelihood_std": [Interval(Real, 0, None, closed="neither")],
        "spike_std": [Interval(Real, 0, None, closed="neither")],
        "slab_std": [Interval(Real, 0, None, closed="neither")],
        "alpha_init": [Interval(Real, 0, 1, closed="right")],
        "alpha_final": [Interval(Real, 0, 1, closed="both")],
        "alpha_warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "alpha_decay": [Interval(Real, 0, None, closed="left")],
        "alpha_decay_unit": [StrOptions({"epoch", "iteration"})],
        "inference_steps": [Interval(Integral, 1, None, closed="left")],
        "inference_step_size": [Interval(Real, 0, None, closed="neither"),
                                StrOptions({"auto"})],
        "inference_init": [StrOptions({"linear", "zeros"})],
        "langevin_noise": ["boolean"],
        "persistent": ["boolean"],
        "transform_alpha": [Interval(Real, 0, 1, closed="both"), None],
        "transform_inference_steps": [Interval(Integral, 1, None, closed="left"), None],
        "transform_threshold": [Interval(Real, 0, None, closed="left"),
                                StrOptions({"spike"}), None],
        "decoder_norm": [Interval(Real, 0, None, closed="neither"), None],
        "hidden_norm": [Interval(Real, 0, None, closed="neither"), None],
        "inference_momentum": [Interval(Real, 0, 1, closed="left")],
        "active_threshold": [Interval(Real, 0, None, closed="left")],
    }
    # Read at every step or call: the likelihood, the prior and its schedule, the
    # inference, the transform settings. The architecture is fixed at fit.
    _free_params = frozenset({
        "likelihood_std", "spike_std", "slab_std", "alpha_init", "alpha_final",
        "alpha_warmup_epochs", "alpha_decay", "alpha_decay_unit", "inference_steps",
        "inference_step_size", "langevin_noise", "persistent", "transform_alpha",
        "transform_inference_steps", "transform_threshold", "active_threshold",
        "inference_momentum",
    })

    # The persistent chains are a tensor: move them with the module when pickling.
    _torch_attributes = ("module_", "_chains")

    @property
    def _input_scale(self):
        # The core's input-scale check: a sigmoid output can only fit data in
        # [0, 1]; an identity output has a fixed likelihood_std in data units.
        return (0.0, 1.0) if self.output_activation == "sigmoid" else "likelihood_std"

    _input_scale_reason = "output_activation='sigmoid' outputs lie in [0, 1]"

    def __init__(
        self,
        n_components: int = 128,
        *,
        decoder: str = "mlp",
        decoder_hidden_sizes: Sequence[int] | None = None,
        image_shape: Sequence[int] | None = None,
        output_activation: str = "sigmoid",
        likelihood_std: float = 0.3,
        spike_std: float = 0.1,
        slab_std: float = 1.0,
        alpha_init: float = 1.0,
        alpha_final: float = 0.001,
        alpha_warmup_epochs: int = 3,
        alpha_decay: float = 0.25,
        alpha_decay_unit: str = "epoch",
        inference_steps: int = 10,
        inference_step_size: float | str = "auto",
        langevin_noise: bool = False,
        persistent: bool = False,
        transform_alpha: float | None = None,
        transform_inference_steps: int | None = 3,
        transform_threshold: float | str | None = "spike",
        active_threshold: float = 0.2,
        decoder_norm: float | None = 1.0,
        hidden_norm: float | None = 3.0,
        inference_init: str = "linear",
        inference_momentum: float = 0.8,
        optimizer: str = "adam",
        learning_rate: float | str = 1e-2,
        momentum: float = 0.9,
        adam_betas: Sequence[float] = (0.5, 0.999),
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        lr_decay: float = 1.0,
        lr_decay_every: int = 1,
        warmup_fraction: float = 0.05,
        batch_size: int = 100,
        max_epochs: int = 20,
        validation_fraction: float = 0.0,
        n_iter_no_change: int | None = None,
        tol: float = 0.0,
        shuffle: bool = True,
        warm_start: bool = False,
        device: str | torch.device = "auto",
        random_state=None,
        verbose: int = 0,
    ):
        self.n_components = n_components
        self.decoder = decoder
        self.decoder_hidden_sizes = decoder_hidden_sizes
        self.image_shape = image_shape
        self.output_activation = output_activation
        self.likelihood_std = likelihood_std
        self.spike_std = spike_std
        self.slab_std = slab_std
        self.alpha_init = alpha_init
        self.alpha_final = alpha_final
        self.alpha_warmup_epochs = alpha_warmup_epochs
        self.alpha_decay = alpha_decay
        self.alpha_decay_unit = alpha_decay_unit
        self.inference_steps = inference_steps
        self.inference_step_size = inference_step_size
        self.langevin_noise = langevin_noise
        self.persistent = persistent
        self.transform_alpha = transform_alpha
        self.transform_inference_steps = transform_inference_steps
        self.transform_threshold = transform_threshold
        self.active_threshold = active_threshold
        self.decoder_norm = decoder_norm
        self.hidden_norm = hidden_norm
        self.inference_init = inference_init
        self.inference_momentum = inference_momentum
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.adam_betas = adam_betas
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.lr_decay_every = lr_decay_every
        self.warmup_fraction = warmup_fraction
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- setup
    def _hidden(self) -> tuple[int, ...]:
        if self.decoder_hidden_sizes is None:
            return _DEFAULT_HIDDEN[self.decoder]
        return check_layer_sizes(self, "decoder_hidden_sizes",
                                 allow_empty=self.decoder != "conv")

    def _check_params(self, X):
        self._hidden()
        check_image_shape(self, X.shape[1], required=self.decoder == "conv",
                          why="decoder='conv'")
        if self.alpha_final > self.alpha_init:
            raise ValueError(
                f"alpha_final={self.alpha_final} must not exceed alpha_init="
                f"{self.alpha_init}: the schedule only decreases alpha."
            )
        if self.spike_std >= self.slab_std:
            raise ValueError(
                f"spike_std={self.spike_std} must be smaller than slab_std={self.slab_std}."
            )

    def _on_fit_start(self, X):
        self.alpha_ = float(self.alpha_init)
        self._chains = None
        self.inference_step_size_ = None

    def _build_module(self, n_features):
        hidden = self._hidden()
        if self.decoder == "mlp":
            # PyTorch's default (non-zero) bias init matters here: inference
            # starts at z0 = 0, and with zero biases every hidden ReLU would sit
            # at its kink, where its gradient is 0, so the codes could never move.
            net = MLP([self.n_components, *hidden, n_features], zero_bias=False)
        else:
            net = ConvGenerator(self.n_components, hidden, image_shape3(self.image_shape))
        init = (nn.Linear(n_features, self.n_components)
                if self.inference_init == "linear" else None)
        return _Generator(net, self.output_activation, init)

    def _init_module(self, module, generator):
        self._project_columns(module)
        if module.init is not None:  # the first guess starts at the paper's z0 = 0
            with torch.no_grad():
                module.init.weight.zero_()
                module.init.bias.zero_()

    def _column_norms(self, n_layers: int) -> list:
        """One norm (or None: free) per constrained layer: ``decoder_norm`` for
        the first, ``hidden_norm`` (None: ``decoder_norm``) for the others."""
        hidden = self.decoder_norm if self.hidden_norm is None else self.hidden_norm
        return [self.decoder_norm] + [hidden] * (n_layers - 1)

    def _project_columns(self, gen=None) -> None:
        """Rescale the columns of the generator's linear layers to
        ``decoder_norm`` (the first) and ``hidden_norm`` (the others).

        A column of the first layer belongs to one latent, a column of a later
        layer to one hidden unit. Fixing both removes the two rescalings that
        leave ``g`` unchanged while shrinking the codes (``z / c`` with the first
        layer times ``c``; or the hidden unit's bias divided by ``c`` with its
        outgoing column times ``c``), so the prior's spike and slab widths mean
        the same thing throughout training. The conv generator constrains its
        projection ``fc`` only.
        """
        if self.decoder_norm is None and self.hidden_norm is None:
            return
        gen = self.module_ if gen is None else gen
        layers = _linear_layers(gen)
        with torch.no_grad():
            for lin, r in zip(layers, self._column_norms(len(layers)), strict=True):
                if r is None:
                    continue
                W = lin.weight
                norms = torch.linalg.vector_norm(W, dim=0, keepdim=True)
                W.mul_(r / norms.clamp_min(1e-12))

    @property
    def _transform_alpha(self) -> float:
        return float(self.alpha_final if self.transform_alpha is None else self.transform_alpha)

    # ------------------------------------------------------------- inference
    def _step_size(self) -> float:
        """``inference_step_size``, or its measured value for ``"auto"``."""
        if self.inference_step_size != "auto":
            return float(self.inference_step_size)
        return float(self.inference_step_size_)

    def _measured_step(self, X: torch.Tensor, z: torch.Tensor, n_iter: int = 20) -> float:
        """``1 / L`` of ``-log p(x, z)`` near the rows' codes ``z`` (see
        ``inference_step_size``): power iteration on each row's
        ``J^T diag(c) J``, the largest over the rows (and over the ranks)."""
        net = self.module_.net
        with torch.enable_grad():
            zr = z.detach().requires_grad_(True)
            u = net(zr)
            if self.module_.sigmoid:
                # d2/du2 (x - s(u))^2 / 2 = s'^2 - (x - s) s'' <= s'^2 + |x - s| |s''|
                s = torch.sigmoid(u.detach())
                d1 = s * (1 - s)
                c = d1**2 + (X - s).abs() * (d1 * (1 - 2 * s)).abs()
            else:
                c = torch.ones_like(u)
            # J^T w is linear in w: J v is its gradient along v (no forward-mode AD)
            w = torch.zeros_like(u, requires_grad=True)
            (jtw,) = torch.autograd.grad(u, zr, w, create_graph=True)
            v = torch.ones_like(z)
            for _ in range(n_iter):
                v = v / torch.linalg.vector_norm(v, dim=1, keepdim=True).clamp_min(1e-30)
                (Jv,) = torch.autograd.grad(jtw, w, v, retain_graph=True)
                lam = (c * Jv**2).sum(1)
                (v,) = torch.autograd.grad(u, zr, c * Jv, retain_graph=True)
        with torch.no_grad():
            L = torch.max(lam).reshape(1)
            if in_batch():
                all_reduce_(L, torch.distributed.ReduceOp.MAX, "the inference step")
        return 1.0 / (1.0 / self.spike_std**2 + float(L[0]) / self.likelihood_std**2)

    def _first_guess(self, X: torch.Tensor) -> torch.Tensor:
        """Where inference starts (``inference_init``)."""
        init = self.module_.init
        if init is None:
            return torch.zeros(X.shape[0], self.n_components, dtype=X.dtype, device=X.device)
        with torch.no_grad():
            return init(X)

    # Use the hand-written gradient of the data term for MLP generators (False:
    # autograd for every generator; kept for tests and the speed benchmark).
    _analytic_gradient = True

    def _energy_grad(self, X, z):
        """``d/dz (1/(2 sigma^2)) ||X - g(z)||^2``, rows summed (by autograd)."""
        return decoder_recon_grad(self.module_, X, 0.5 / self.likelihood_std**2)(z)

    def _mlp_layers(self):
        """``[(W, b), ...]`` of an MLP generator (Linear-ReLU-...-Linear), else None."""
        net = self.module_.net
        if not self._analytic_gradient or not isinstance(net, MLP):
            return None
        if not all(isinstance(m, (nn.Linear, nn.ReLU)) for m in net):
            return None
        return [(m.weight.detach(), None if m.bias is None else m.bias.detach())
                for m in net if isinstance(m, nn.Linear)]

    def _mlp_energy_grad(self, layers, X, z):
        """The same gradient by hand (:func:`~skdeepsparse.solvers.mlp_recon_grad`)."""
        return mlp_recon_grad(layers, X, z, 0.5 / self.likelihood_std**2,
                              sigmoid=self.module_.sigmoid)

    def _infer(self, X, z0, *, alpha: float, n_steps: int, noise: bool) -> torch.Tensor:
        """Short-run gradient (Langevin) ascent on log p(x, z), batched over rows.

        Gradients are taken with respect to the codes only (by hand for MLP
        generators, else ``torch.autograd.grad(energy, z)``): the module is
        never changed, so concurrent calls are safe. With ``inference_momentum``
        ``mu > 0`` the steps are Nesterov-accelerated: the gradient is taken at
        ``y = z + mu (z - z_prev)`` and ``z_new = y + step * grad(y)``.
        """
        step = self._step_size()
        noise_std = (2.0 * step) ** 0.5  # Langevin: sqrt(2 eta)
        mu = float(self.inference_momentum)
        prior = self._prior(alpha)
        layers = self._mlp_layers()
        z = z0.detach()
        z_prev = z
        with torch.no_grad():
            for _ in range(n_steps):
                y = z if mu == 0.0 else z + mu * (z - z_prev)
                if layers is not None:
                    g = self._mlp_energy_grad(layers, X, y)
                else:
                    g = self._energy_grad(X, y)
                z_prev, z = z, y + step * (prior.score(y) - g)
                if noise:
                    z = z + noise_std * torch.randn(
                        z.shape, generator=self._generator, device=z.device, dtype=z.dtype
                    )
        return z.detach()

    def _spike_threshold(self, alpha: float) -> float:
        """``|z|`` below which the spike is the more probable component."""
        return self._prior(alpha).crossover

    def _resolve_threshold(self, threshold):
        if isinstance(threshold, str):  # "spike"
            return self._spike_threshold(self._transform_alpha)
        return threshold

    def _codes(self, X: torch.Tensor, threshold: float | None) -> torch.Tensor:
        steps = (self.inference_steps if self.transform_inference_steps is None
                 else self.transform_inference_steps)
        Z = self._infer(X, self._first_guess(X), alpha=self._transform_alpha, n_steps=steps,
                        noise=False)
        if not bool(torch.isfinite(Z).all()):
            raise TrainingDivergedError(
                f"{type(self).__name__}: inference produced non-finite codes; lower "
                "inference_step_size (it must stay below 1 / the curvature of "
                "-log p(x, z); 'auto' bounds it)."
            )
        threshold = self._resolve_threshold(threshold)
        if threshold is not None:
            Z = torch.where(Z.abs() <= threshold, torch.zeros_like(Z), Z)
        return Z

    # -------------------------------------------------------------- training
    def _prepare_training(self, X, partial):
        self._init_stats = None
        # Persistent chains: one per row of the data given to fit (never partial_fit).
        self._use_chains = self.persistent and not partial
        if self._use_chains:
            shape = (X.shape[0], self.n_components)
            chains = getattr(self, "_chains", None)
            if chains is None or tuple(chains.shape) != shape:
                chains = torch.zeros(shape, dtype=self._torch_dtype, device=self.device_)
            # A fresh tensor: a failed fit must leave the previous chains intact.
            self._chains = chains.clone()

    @property
    def _ridge_init(self) -> bool:
        return (self.module_.init is not None
                and self.module_.init.in_features <= _RIDGE_MAX_FEATURES)

    def _accumulate_init_stats(self, X, Z) -> None:
        """Sums for the ridge regression of this epoch's codes on their rows."""
        Xd, Zd = X.detach().double(), Z.detach().double()
        new = [torch.tensor([float(len(Xd))], dtype=torch.float64, device=Xd.device),
               Xd.sum(0), Zd.sum(0),
               Xd.T @ Xd, Xd.T @ Zd]
        old = self._init_stats
        self._init_stats = new if old is None else [a + b for a, b in zip(old, new, strict=True)]

    def _on_epoch_end(self, epoch):
        if not self._ridge_init or self._init_stats is None:
            return
        stats, self._init_stats = self._init_stats, None
        if is_active():  # every rank's rows
            for t in stats:
                all_reduce_(t, what="the first guess's statistics")
        n, sx, sz, sxx, sxz = stats
        n = float(n[0])
        mx, mz = sx / n, sz / n
        C = sxx - n * torch.outer(mx, mx)  # centred Gram
        B = sxz - n * torch.outer(mx, mz)
        ridge = 1e-3 * float(torch.diagonal(C).mean()) + 1e-12
        A = torch.linalg.solve(C + ridge * torch.eye(len(C), dtype=C.dtype, device=C.device), B)
        init = self.module_.init
        with torch.no_grad():
            init.weight.copy_(A.T.to(init.weight.dtype))
            init.bias.copy_((mz - mx @ A).to(init.bias.dtype))

    def _stable_codes(self, X, z0, Z, alpha: float) -> torch.Tensor:
        """Halve the "auto" step while inference raises ``-log p(x, z)`` above its
        value at the start (summed over the batch, on every rank): the generator's
        curvature can outgrow the step measured at the start (unbounded outputs)."""
        def energy(z):
            with torch.no_grad():
                err = ((X - self.module_(z)) ** 2).sum(1) * (0.5 / self.likelihood_std**2)
                e = (err - self._prior(alpha).log_prob(z).sum(1)).sum()
                return torch.nan_to_num(e, nan=float("inf")).reshape(1)

        start = batch_sum(energy(z0))
        for _ in range(30):
            if bool(batch_sum(energy(Z)) <= start):
                return Z
            self.inference_step_size_ *= 0.5
            Z = self._infer(X, z0, alpha=alpha, n_steps=self.inference_steps, noise=False)
        return Z

    def _prior(self, alpha: float) -> SpikeSlab:
        return SpikeSlab(alpha, self.spike_std, self.slab_std)

    @property
    def _alpha_schedule(self) -> LinearAnnealing:
        """The annealing of ``alpha``: ``alpha_init`` through epoch
        ``alpha_warmup_epochs - 1``, then ``-alpha_decay`` per epoch (or per
        mini-batch), floored at ``alpha_final``."""
        return LinearAnnealing(float(self.alpha_init), float(self.alpha_final),
                               -float(self.alpha_decay), self.alpha_warmup_epochs - 1)

    def _next_alpha(self) -> float:
        schedule = self._alpha_schedule
        if self.alpha_decay_unit == "epoch":
            return float(schedule(self.n_iter_))
        if self.n_iter_ < self.alpha_warmup_epochs:
            return float(self.alpha_init)
        return float(schedule.step(self.alpha_))

    def _train_step(self, X, rows=None):
        idx = rows
        alpha = self._next_alpha()
        self.alpha_ = alpha
        if self._use_chains and idx is not None and len(idx) == X.shape[0]:
            rows = torch.as_tensor(idx, device=self.device_)
            z0 = self._chains[rows]
        else:
            rows = None
            z0 = self._first_guess(X)
        if self.inference_step_size != "auto":
            self.inference_step_size_ = float(self.inference_step_size)
        elif self.inference_step_size_ is None:  # measured once, at the first batch
            self.inference_step_size_ = self._measured_step(X, z0)
        Z = self._infer(X, z0, alpha=alpha, n_steps=self.inference_steps,
                        noise=self.langevin_noise)
        if self.inference_step_size == "auto" and not self.langevin_noise:
            Z = self._stable_codes(X, z0, Z, alpha)
        if rows is not None:
            self._chains[rows] = Z
        if self._ridge_init:
            self._accumulate_init_stats(X, Z)
        (opt,) = self._optimizers
        sq = ((X - self.module_(Z)) ** 2).sum(1)
        loss = (0.5 / self.likelihood_std**2) * sq.mean()
        stats = {}
        opt.zero_grad(set_to_none=True)
        if self.module_.init is not None and not self._ridge_init:
            # The first guess learns the inferred codes (its own parameters: the
            # generator's gradient is unchanged; Adam makes the weight immaterial).
            init_sq = ((self.module_.init(X) - Z) ** 2).mean(1)
            (loss + 0.5 * init_sq.mean()).backward()
            stats["init_mse"] = init_sq.detach().mean()
        else:
            loss.backward()
        opt.step()
        self._project_columns()
        with torch.no_grad():
            prior_nll = -self._prior(alpha).log_prob(Z).sum(1)
            return {**stats,
                "loss": loss.detach(),
                "mse": sq.detach().mean() / X.shape[1],
                "prior_nll": prior_nll.mean(),
                "alpha": alpha,
                "active": (Z.abs() > self.active_threshold).to(Z.dtype).mean(),
                "code_abs": Z.abs().mean(),
            }

    # ------------------------------------------------------------ transforms
    def _transform_batch(self, X):
        return self._codes(X, self.transform_threshold)

    def _inverse_transform_batch(self, Z):
        return self.module_(Z)

    def _score_samples_batch(self, X):
        X_hat = self.module_(self._transform_batch(X))
        return -((X - X_hat) ** 2).mean(1)

    def sample(self, n_samples: int = 1, *, random_state=None, return_codes: bool = False):
        """Draw images by decoding codes sampled from the prior.

        Each latent is drawn from the slab ``N(0, slab_std^2)`` with probability
        ``alpha = transform_alpha`` (default ``alpha_final``), else from the
        spike ``N(0, spike_std^2)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed of the draw (numpy; the global torch seed is never used).
        return_codes : bool, default=False
            Also return the codes.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            ``g(z)``, in the dtype the model was fitted in.
        Z : ndarray of shape (n_samples, n_components)
            The codes (only if ``return_codes``).
        """
        check_is_fitted(self)
        if (not isinstance(n_samples, Integral) or isinstance(n_samples, bool)
                or n_samples < 1):
            raise ValueError(f"n_samples must be a positive int; got {n_samples!r}.")
        rng = check_random_state(random_state)
        shape = (int(n_samples), self.n_components)
        slab = rng.random_sample(shape) < self._transform_alpha
        std = np.where(slab, self.slab_std, self.spike_std)
        Z = (std * rng.standard_normal(shape)).astype(self._np_dtype)
        X = self.inverse_transform(Z)
        return (X, Z) if return_codes else X

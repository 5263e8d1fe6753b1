"""Write the committed subsets of the intersphinx inventories in this folder.

``docs/conf.py`` looks every project up online first and falls back on these
files, so that the documentation builds with ``nitpicky = True`` and ``-W``
without network access, its links still pointing at the projects' sites. A
reference to a new external object needs a line here (the URI relative to the
project's base URL in ``conf.py``; ``$`` stands for the object's name), then::

    python docs/_inventories/make_inventories.py
"""

from __future__ import annotations

import zlib
from pathlib import Path

_SK = "modules/generated/$.html#$"
_TORCH = "generated/$.html#$"

INVENTORIES = {
    "sklearn": ("scikit-learn", "stable", [
        ("sklearn.base.clone", "py:function", _SK),
        ("sklearn.decomposition.DictionaryLearning", "py:class", _SK),
        ("sklearn.decomposition.MiniBatchDictionaryLearning", "py:class", _SK),
        ("sklearn.decomposition.PCA", "py:class", _SK),
        ("sklearn.decomposition.sparse_encode", "py:function", _SK),
        ("sklearn.exceptions.ConvergenceWarning", "py:class", _SK),
        ("sklearn.exceptions.FitFailedWarning", "py:class", _SK),
        ("sklearn.feature_extraction.image.PatchExtractor", "py:class", _SK),
        ("sklearn.linear_model.LogisticRegression", "py:class", _SK),
        ("sklearn.model_selection.GridSearchCV", "py:class", _SK),
        ("sklearn.pipeline.Pipeline", "py:class", _SK),
        ("sklearn.preprocessing.MinMaxScaler", "py:class", _SK),
        ("sklearn.preprocessing.StandardScaler", "py:class", _SK),
        ("sklearn.set_config", "py:function", _SK),
        ("sklearn.utils.Bunch", "py:class", _SK),
        ("sklearn.utils.metadata_routing.MetadataRequest", "py:class", _SK),
        # Labels and terms that scikit-learn's own method docstrings refer to
        # (set_output, get_metadata_routing, set_params), inherited here.
        ("metadata_routing", "std:label", "metadata_routing.html#metadata-routing",
         "Metadata Routing"),
        ("df_output_transform", "std:label",
         "auto_examples/miscellaneous/plot_set_output.html#sphx-glr-auto-examples-"
         "miscellaneous-plot-set-output-py", "Introducing the set_output API"),
        ("sphx_glr_auto_examples_miscellaneous_plot_set_output.py", "std:label",
         "auto_examples/miscellaneous/plot_set_output.html#sphx-glr-auto-examples-"
         "miscellaneous-plot-set-output-py", "Introducing the set_output API"),
        ("meta-estimator", "std:term", "glossary.html#term-meta-estimator", "meta-estimator"),
    ]),
    "torch": ("PyTorch", "stable", [
        ("torch.device", "py:class", "tensor_attributes.html#torch.device"),
        ("torch.Tensor", "py:class", "tensors.html#torch.Tensor"),
        ("torch.nn.Module", "py:class", _TORCH),
        ("torch.set_num_threads", "py:function", _TORCH),
        ("torch.get_num_threads", "py:function", _TORCH),
        ("torch.distributions", "py:module", "distributions.html#module-torch.distributions"),
        ("torch.distributions.Distribution", "py:class",
         "distributions.html#torch.distributions.distribution.Distribution"),
        ("torch.optim.lr_scheduler", "py:module", "optim.html#module-torch.optim.lr_scheduler"),
        ("torch.optim.lr_scheduler.StepLR", "py:class", _TORCH),
        ("torch.optim.lr_scheduler.OneCycleLR", "py:class", _TORCH),
    ]),
    "numpy": ("NumPy", "stable", [
        ("numpy.ndarray", "py:class", "reference/generated/numpy.ndarray.html#numpy.ndarray"),
        ("numpy.random.RandomState", "py:class",
         "reference/random/legacy.html#numpy.random.RandomState"),
    ]),
    "python": ("Python", "3", [
        ("logging", "py:module", "library/logging.html#module-logging"),
        ("pathlib.Path", "py:class", "library/pathlib.html#pathlib.Path"),
        ("warnings", "py:module", "library/warnings.html#module-warnings"),
    ]),
    "pandas": ("pandas", "stable", [
        ("pandas.DataFrame", "py:class", "reference/api/pandas.DataFrame.html#pandas.DataFrame"),
    ]),
    "joblib": ("joblib", "stable", [
        ("joblib.parallel_config", "py:class", "generated/joblib.parallel_config.html#$"),
        ("joblib.Memory", "py:class", "generated/joblib.Memory.html#$"),
    ]),
}


def write(folder: Path | None = None) -> None:
    folder = Path(__file__).resolve().parent if folder is None else folder
    for key, (project, version, entries) in INVENTORIES.items():
        lines = []
        for entry in entries:
            name, role, uri, *disp = entry
            lines.append(f"{name} {role} 1 {uri} {disp[0] if disp else '-'}")
        header = (f"# Sphinx inventory version 2\n# Project: {project}\n"
                  f"# Version: {version}\n"
                  "# The remainder of this file is compressed using zlib.\n").encode()
        body = zlib.compress(("\n".join(lines) + "\n").encode())
        (folder / f"{key}.inv").write_bytes(header + body)


if __name__ == "__main__":
    write()

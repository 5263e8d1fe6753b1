"""The order of the examples in the gallery: the tutorial first, then by topic."""

ORDER = [
    "low_data_evaluation.py",
    "compare_dictionaries.py",
    "denoising.py",
    "natural_image_patches.py",
    "gridsearch_pipeline.py",
]


class ExampleOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order``.

    Examples missing from ``ORDER`` come last, by file name.
    """

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        return (ORDER.index(filename) if filename in ORDER else len(ORDER), filename)

    def __repr__(self):  # a stable repr keeps Sphinx's environment cache valid
        return f"<{type(self).__name__}>"

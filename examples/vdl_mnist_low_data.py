"""Transform-then-classify with few labels: VDL codes vs raw pixels on MNIST.

Fits a VarianceRegDictionaryLearner on unlabelled MNIST training images, then
trains a logistic regression on k labelled codes per class (k = 1, 5, 10, 100;
5 draws) and reports test accuracy next to the same classifier on raw pixels.
Saves the learned atoms to ``vdl_atoms.png``.

    python examples/vdl_mnist_low_data.py            # ~5 min on 2 CPU cores
    python examples/vdl_mnist_low_data.py --quick    # ~30 s
"""

from __future__ import annotations

import argparse

from skdeepsparse import VarianceRegDictionaryLearner
from skdeepsparse.datasets import load_mnist
from skdeepsparse.evaluation import linear_probe
from skdeepsparse.plotting import plot_atoms

# data_home=None: $SKDEEPSPARSE_DATA, else ~/skdeepsparse_data; missing MNIST files
# are downloaded there (checked against their SHA-256).
DATA = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", default="vdl_atoms.png")
    args = ap.parse_args(argv)
    n_train, epochs, ks = (3000, 5, (1, 10)) if args.quick else (20000, 20, (1, 5, 10, 100))
    train = load_mnist("train", data_home=DATA, n_samples=n_train)
    test = load_mnist("test", data_home=DATA, n_samples=2000 if args.quick else None)

    vdl = VarianceRegDictionaryLearner(
            n_components=128, max_epochs=epochs, decoder_learning_rate=3e-3, learning_rate=1e-3,
            device="auto", random_state=0)
    vdl.fit(train.data)
    codes = linear_probe(vdl.transform(train.data), train.target, vdl.transform(test.data),
                         test.target, n_per_class=ks)
    pixels = linear_probe(train.data, train.target, test.data, test.target, n_per_class=ks)
    print("labels/class | VDL codes | raw pixels")
    for k in ks:
        print(f"{k:>12} | {codes[k]['mean']:.3f} ± {codes[k]['std']:.3f} | "
              f"{pixels[k]['mean']:.3f} ± {pixels[k]['std']:.3f}")
    plot_atoms(vdl.components_, (28, 28), n_atoms=64, filename=args.output,
               title="VDL atoms (first 64)")
    print(f"atoms saved to {args.output}")
    return codes, pixels


if __name__ == "__main__":
    main()

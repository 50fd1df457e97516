r"""A synthetic regression table whose target is driven by planted pairwise
interactions, with correlated decoy features that do not affect it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from pyg_tabular.utils.validation import check_fraction, check_int, check_non_negative_number


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a * b


def _sine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # E[sin²(2a)] = (1 − e^{−8}) / 2 for a ~ N(0, 1): scaled to unit variance.
    return np.sin(2.0 * a) * b / math.sqrt((1.0 - math.exp(-8.0)) / 2.0)


def _xor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sign(a) * np.sign(b)


#: Interaction kind → the term it adds to the target, a function of the two
#: standard normal features of its pair with mean 0 and variance 1 and no
#: main effect (its mean over either feature alone is 0).
INTERACTIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "product": _product,
    "sine": _sine,
    "xor": _xor,
}


@dataclasses.dataclass
class InteractionTable:
    r"""What :func:`make_interactions` returns.

    Attributes:
        X (numpy.ndarray): Features ``[n_samples, n_features]``, float32.
        y (numpy.ndarray): Regression target ``[n_samples]``, float32.
        pairs (list of (int, int)): The planted pairs, columns of :obj:`X`
            with ``i < j``, in the order of :obj:`kinds`.
        kinds (list of str): The interaction kind of each pair, a name of
            :data:`INTERACTIONS`.
        decoy_groups (list of list of int): Columns that are correlated
            within a group and do not enter the target.
        main_effects (list of int): Columns that enter the target alone,
            linearly, and interact with nothing.
        feature_names (list of str): ``"f00"``, ``"f01"``, ...; the names
            say nothing about a column's role.
    """

    X: np.ndarray
    y: np.ndarray
    pairs: list[tuple[int, int]]
    kinds: list[str]
    decoy_groups: list[list[int]]
    main_effects: list[int]
    feature_names: list[str]


def make_interactions(
    n_samples: int = 4000,
    n_features: int = 24,
    *,
    interactions: Sequence[str] = ("product", "sine", "xor", "product", "sine", "xor"),
    n_decoy_groups: int = 2,
    decoy_group_size: int = 3,
    decoy_correlation: float = 0.9,
    n_main_effects: int = 2,
    noise: float = 0.1,
    random_state: int | np.random.Generator | None = None,
) -> InteractionTable:
    r"""A regression table whose target is a sum of planted pairwise
    interactions, with decoys that fool correlation-based feature graphs.

    Every feature is standard normal. The columns get one role each, at
    random positions:

    * **interaction pairs**: one disjoint pair :math:`(a, b)` per entry of
      :obj:`interactions`, which adds the term

      .. math::
          \text{product: } x_a x_b, \qquad
          \text{sine: } \frac{\sin(2 x_a)\, x_b}{\sqrt{(1 - e^{-8})/2}}, \qquad
          \text{xor: } \operatorname{sign}(x_a) \operatorname{sign}(x_b),

      each of mean 0 and variance 1 and without main effect: the target's
      mean given :math:`x_a` alone (or :math:`x_b` alone) is 0, so only a
      model that combines the two features can use either;
    * **main effects**: :obj:`n_main_effects` features that each add
      :math:`x_m` and interact with nothing (important, but no pair);
    * **decoy groups**: :obj:`n_decoy_groups` groups of
      :obj:`decoy_group_size` features that share a latent factor,
      :math:`x = \sqrt{\rho}\, z_g + \sqrt{1 - \rho}\, \varepsilon`, so that
      two members correlate at :math:`\rho` (:obj:`decoy_correlation`);
      they do not enter the target, and they are what a correlation kNN
      graph links;
    * the rest: independent noise features.

    The target is the sum of the terms plus Gaussian noise of standard
    deviation :obj:`noise` times the terms' standard deviation, so
    :obj:`noise` is the noise-to-signal ratio of standard deviations.

    Args:
        n_samples (int, optional): Rows. (default: :obj:`4000`)
        n_features (int, optional): Columns; at least
            ``2 * len(interactions) + n_main_effects + n_decoy_groups *
            decoy_group_size``. (default: :obj:`24`)
        interactions (sequence of str, optional, keyword-only): The kind of each planted
            pair, names of :data:`INTERACTIONS`.
            (default: two of each kind, six pairs)
        n_decoy_groups (int, optional, keyword-only): Number of decoy groups.
            (default: :obj:`2`)
        decoy_group_size (int, optional, keyword-only): Features per decoy group, at
            least 2. (default: :obj:`3`)
        decoy_correlation (float, optional, keyword-only): Correlation :math:`\rho` within
            a group, in ``[0, 1)``. (default: :obj:`0.9`)
        n_main_effects (int, optional, keyword-only): Features with a main effect only.
            (default: :obj:`2`)
        noise (float, optional, keyword-only): Noise-to-signal ratio, :math:`\ge 0`.
            (default: :obj:`0.1`)
        random_state (int or numpy.random.Generator, optional, keyword-only): Seed; the
            same seed gives the same table. (default: :obj:`None`)

    Returns:
        InteractionTable: ``X``, ``y``, the planted ``pairs`` and their
        ``kinds``, the ``decoy_groups``, the ``main_effects`` and the
        ``feature_names``.

    Example:
        >>> table = make_interactions(1000, random_state=0)
        >>> table.X.shape, table.y.shape
        ((1000, 24), (1000,))
        >>> len(table.pairs), table.kinds[:3]
        (6, ['product', 'sine', 'xor'])
        >>> [len(group) for group in table.decoy_groups]
        [3, 3]
    """
    check_int(n_samples, "n_samples", 1)
    check_int(n_features, "n_features", 1)
    if isinstance(interactions, str) or not isinstance(interactions, Sequence):
        raise ValueError(f"interactions must be a sequence of kinds (got {interactions!r})")
    kinds = list(interactions)
    unknown = [kind for kind in kinds if kind not in INTERACTIONS]
    if unknown:
        raise ValueError(
            f"interactions must name kinds of {sorted(INTERACTIONS)} (got {unknown!r})"
        )
    check_int(n_decoy_groups, "n_decoy_groups", 0)
    check_int(decoy_group_size, "decoy_group_size", 2)
    check_int(n_main_effects, "n_main_effects", 0)
    rho = check_fraction(decoy_correlation, "decoy_correlation")
    noise = check_non_negative_number(noise, "noise")
    needed = 2 * len(kinds) + n_main_effects + n_decoy_groups * decoy_group_size
    if n_features < needed:
        raise ValueError(
            f"n_features must be at least {needed} for {len(kinds)} pairs, {n_main_effects} "
            f"main effects and {n_decoy_groups} decoy groups of {decoy_group_size} "
            f"(got {n_features})"
        )
    rng = np.random.default_rng(random_state)

    # Roles at random positions: the first columns of the permutation are
    # the pairs, then the main effects, then the decoys.
    columns = [int(c) for c in rng.permutation(n_features)]
    pairs = [
        (min(columns[2 * p], columns[2 * p + 1]), max(columns[2 * p], columns[2 * p + 1]))
        for p in range(len(kinds))
    ]
    start = 2 * len(kinds)
    main_effects = sorted(columns[start : start + n_main_effects])
    start += n_main_effects
    decoy_groups = [
        sorted(columns[start + g * decoy_group_size : start + (g + 1) * decoy_group_size])
        for g in range(n_decoy_groups)
    ]

    X = rng.standard_normal((n_samples, n_features))
    if decoy_groups:
        latent = rng.standard_normal((n_samples, len(decoy_groups)))
        for g, group in enumerate(decoy_groups):
            X[:, group] = math.sqrt(rho) * latent[:, [g]] + math.sqrt(1.0 - rho) * X[:, group]
    signal = np.zeros(n_samples)
    for (a, b), kind in zip(pairs, kinds):
        signal += INTERACTIONS[kind](X[:, a], X[:, b])
    for m in main_effects:
        signal += X[:, m]
    # Every term has variance 1 and the terms are uncorrelated.
    scale = math.sqrt(len(kinds) + len(main_effects)) or 1.0
    y = signal + noise * scale * rng.standard_normal(n_samples)
    width = max(2, len(str(n_features - 1)))
    return InteractionTable(
        X=X.astype(np.float32),
        y=y.astype(np.float32),
        pairs=pairs,
        kinds=kinds,
        decoy_groups=decoy_groups,
        main_effects=main_effects,
        feature_names=[f"f{i:0{width}d}" for i in range(n_features)],
    )


__all__ = ["make_interactions", "InteractionTable", "INTERACTIONS"]

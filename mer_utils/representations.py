"""The input representations a model can be fed, by name (plain data: no torch).

Two: ``di``, the paper's dynamic image (colour planes of one rank-pooled image), and ``flow``,
the optical flow of :mod:`mer_utils.flow` (u, v, optical strain codes; its store is
:mod:`mer_utils.flow_store`). A representation says how its codes are normalised for a
network: ``mean``/``std`` None = the model's own (a DI is an image: ImageNet statistics for a
pretrained backbone), else these for every model (flow codes mean motion, not colour).
An augmentation names the representation it applies to (:func:`mer_utils.augment.
register_augmentation`); the contract tests (``tests/test_contracts.py``) hold every
augmentation of a ``same_per_channel`` representation to transforming each channel alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from mer_utils.registry import register


@dataclass(frozen=True)
class RepresentationSpec:
    """One input representation: uint8 [C, S, S] images whose channels mean ``channels``."""

    name: str
    display: str
    channels: tuple[str, ...]  # what each channel holds, in order
    # True: the channels are planes of one image (R, G, B) and an augmentation must do the same
    # thing to each, independently. False: they are coupled (flow's u, v turn with a rotation).
    same_per_channel: bool = True
    # after multiplying the uint8 codes by 1/255; None: the model spec's mean / std
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


REPRESENTATIONS: dict[str, RepresentationSpec] = {}


def register_representation(
    spec: RepresentationSpec, *, replace: bool = False
) -> RepresentationSpec:
    """Add ``spec`` under ``spec.name``; RegistryError for a name taken by a different spec
    (unless ``replace``), an empty display or no channels."""
    problems = [] if spec.display else ["display must not be empty"]
    if not spec.channels or not all(isinstance(c, str) and c for c in spec.channels):
        problems.append(f"channels={spec.channels!r}: name every channel, e.g. ('R', 'G', 'B')")
    n = len(spec.channels)
    if (spec.mean is None) != (spec.std is None) or (
        spec.mean is not None and not (len(spec.mean) == len(spec.std) == n and min(spec.std) > 0)
    ):
        problems.append(
            f"mean={spec.mean}, std={spec.std}: both None, or {n} numbers each, stds > 0"
        )
    return register(
        REPRESENTATIONS, "representation", spec.name, spec, replace=replace, problems=problems
    )


register_representation(RepresentationSpec("di", "Dynamic image", ("R", "G", "B")))

FLOW_ZERO = 128  # the u / v code of zero motion (mer_utils.flow.encode_flow)
FLOW_ALGORITHMS = ("farneback", "dis", "tvl1")  # mer_utils.flow; the config's flow_algorithm
register_representation(
    RepresentationSpec(
        "flow",
        "Optical flow",
        ("u", "v", "strain"),
        same_per_channel=False,  # a rotation turns (u, v); a flip negates u
        # u, v -> -1..1 at -+max_motion (0 = no motion), strain -> 0..1 at max_strain
        mean=(FLOW_ZERO / 255, FLOW_ZERO / 255, 0.0),
        std=((FLOW_ZERO - 1) / 255, (FLOW_ZERO - 1) / 255, 1.0),
    )
)

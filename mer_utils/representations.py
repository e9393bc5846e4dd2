"""The input representations a model can be fed, by name (plain data: no torch).

Today one: ``di``, the paper's dynamic image (colour planes of one rank-pooled image). The
optical flow of :mod:`mer_utils.flow` registers ``flow`` here when it is wired into training:
``RepresentationSpec("flow", "Optical flow", ("u", "v", "strain"), same_per_channel=False)``.
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


REPRESENTATIONS: dict[str, RepresentationSpec] = {}


def register_representation(
    spec: RepresentationSpec, *, replace: bool = False
) -> RepresentationSpec:
    """Add ``spec`` under ``spec.name``; RegistryError for a name taken by a different spec
    (unless ``replace``), an empty display or no channels."""
    problems = [] if spec.display else ["display must not be empty"]
    if not spec.channels or not all(isinstance(c, str) and c for c in spec.channels):
        problems.append(f"channels={spec.channels!r}: name every channel, e.g. ('R', 'G', 'B')")
    return register(
        REPRESENTATIONS, "representation", spec.name, spec, replace=replace, problems=problems
    )


register_representation(RepresentationSpec("di", "Dynamic image", ("R", "G", "B")))

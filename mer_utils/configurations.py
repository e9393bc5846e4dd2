"""What each configuration means, in one registry (plain data: no torch).

A configuration says which DI kinds of the *training* clips become training samples, whether
Flip/Rotate augments them, and which DI kinds of a *test* clip its prediction averages (mean
softmax). The paper's four train on full DIs (+ DI-Onset and DI-Offset for Dual-DI) and are
evaluated on the full DI alone. Our additions (never mixed into the paper's rows):

- *phase-aware evaluation* (``..._phase_eval``, ``..._all_eval``): a Dual-DI model scored on
  DI-Onset + DI-Offset (or full + both) of the test clip. They train nothing: each fold's model
  is the one of ``trained_as``, scored once on every DI kind of its test clips (the logits are
  kept in the fold record). Cutting a test clip into its phases needs an apex, which the
  paper's inference never uses (it scores the full DI, cut at onset and offset only). Each
  phase-aware row therefore names where its test clips are cut (:data:`APEX_SOURCES`, the
  config field ``test_apex``): at the apex spotted from the frames without any label
  (``@spotted``, what a deployed model could do), at the test clip's apex annotation
  (``@annotated``: extra test-time information, an upper reference) or at the clip's midpoint
  (``@midpoint``). Training always uses the annotated apex, as the paper does. A clip with a
  1-frame phase has no DI of that phase; its prediction averages the kinds it has (documented,
  counted in the validation report of notebook 01).
- *sign-robust* (``sign_robust``): trains on the full DI and its negation (255 - DI) and
  averages both at test time, a cheap control for the full DI's sign ambiguity (notebook 02).
- *optical flow* (``flow_*``, representation ``flow``, config group ``flow``): the same four
  on the field's input instead of DIs (:mod:`mer_utils.flow`, stored by
  :mod:`mer_utils.flow_store`): Flow Baseline trains on the onset->apex flow (u, v, strain);
  + Flip/Rotate mirrors and rotates the *frames'* flow (``flip_rotate_flow``: a flip negates u);
  + phase-aware flow augmentation adds each training clip's apex->offset flow (reversed, so it
  points like the onset flow, the flow twin of DI-Offset) as an extra sample of its class; both.
  Every flow row is evaluated on the test clip's onset->apex flow alone, as the field does (a
  test clip whose apex is its onset frame has none: its apex->offset flow stands in).

Adding an augmentation = its batch function registered with
:func:`mer_utils.augment.register_augmentation` and a configuration naming it in ``augment``;
adding a configuration = one :func:`register_configuration` call (the built-in ones use it too),
in a ``plugins:`` module to reach every worker (:mod:`mer_utils.plugins`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mer_utils.augment import AUGMENTATION_INPUTS, AUGMENTATIONS
from mer_utils.registry import register

# Where a clip's phase DIs are cut (the store holds DI-Onset and DI-Offset for each):
# the apex as loaded (the sheet's, or re-estimated where the sheet has none), the apex spotted
# from the frames without labels (mer_utils.spotting), the clip's midpoint, and the annotated
# apex shifted by a percentage of the clip (the apex-noise curve; evaluation only).
APEX_SOURCES = ("annotated", "spotted", "midpoint")
APEX_SHIFTS = (-30, -20, -10, 10, 20, 30)  # % of the clip length
APEX_LABELS = {
    "annotated": "test apex annotations",
    "spotted": "spotted apex (no labels)",
    "midpoint": "clip midpoint",
}


def shift_cut(percent: int) -> str:
    """The name of the cut at the annotated apex moved by ``percent`` % of the clip."""
    return f"shift{percent:+d}"


CUTS = (*APEX_SOURCES, *(shift_cut(p) for p in APEX_SHIFTS))


def phase_kind(phase: str, cut: str) -> str:
    """DI kind of ``phase`` (onset | offset) cut at ``cut``: ``onset`` for the annotated apex
    (what training uses), ``onset@spotted``, ``offset@shift+10`` ... for the others."""
    return phase if cut == "annotated" else f"{phase}@{cut}"


STORED_KINDS = ("full", *(phase_kind(ph, c) for c in CUTS for ph in ("onset", "offset")))
DI_KINDS = (*STORED_KINDS, "full_negated")  # scored for every test clip of a DI model
FLOW_KINDS = ("flow_onset", "flow_offset")  # onset->apex, apex->offset (mer_utils.flow_store)
#: representation -> the kinds of it a store holds and a test clip is scored on
KINDS: dict[str, tuple[str, ...]] = {"di": DI_KINDS, "flow": FLOW_KINDS}


@dataclass(frozen=True)
class ConfigurationSpec:
    """One configuration: training samples, augmentation, evaluation input."""

    name: str
    display: str
    train_kinds: tuple[str, ...] = ("full",)  # DI kinds of the training clips used as samples
    augment: tuple[str, ...] = ()  # registered augmentations (mer_utils.augment), in order
    eval_kinds: tuple[str, ...] = ("full",)  # test: mean softmax over these DI kinds
    trained_as: str = ""  # evaluation only: reuses this configuration's fold models
    paper: bool = True  # one of the paper's four columns (else an addition of ours)
    representation: str = "di"  # what its kinds are (mer_utils.representations, KINDS)
    # scored for a test clip that has none of eval_kinds (a flow clip whose apex is its onset
    # frame has no onset->apex flow: its apex->offset flow, which points the same way)
    eval_fallback: tuple[str, ...] = ()

    @property
    def trains(self) -> str:
        """The configuration whose fold models this one's predictions come from."""
        return self.trained_as or self.name


PHASES = ("full", "onset", "offset")
_PAPER = (
    ConfigurationSpec("baseline", "Baseline"),
    ConfigurationSpec("flip_rotate", "Baseline + Flip/Rotate", augment=("flip_rotate",)),
    ConfigurationSpec("dual_di", "Baseline + Dual-DI Aug", train_kinds=PHASES),
    ConfigurationSpec(
        "dual_di_flip_rotate",
        "Baseline + Dual-DI Aug + Flip/Rotate",
        train_kinds=PHASES,
        augment=("flip_rotate",),
    ),
)


def _phase_aware(base: ConfigurationSpec, shown: str) -> list[ConfigurationSpec]:
    """Evaluation-only twins of ``base``: its fold models scored on other DI kinds."""
    return [
        replace(base, name=f"{base.name}_{tag}", display=f"{shown}, evaluated on {what}",
                eval_kinds=kinds, trained_as=base.name, paper=False)
        for tag, what, kinds in (
            ("phase_eval", "DI-Onset + DI-Offset", ("onset", "offset")),
            ("all_eval", "full + DI-Onset + DI-Offset", PHASES),
        )
    ]  # fmt: skip


CONFIGURATIONS = ("baseline", "flip_rotate", "dual_di", "dual_di_flip_rotate")  # the paper's four
REGISTRY: dict[str, ConfigurationSpec] = {}


def register_configuration(spec: ConfigurationSpec, *, replace: bool = False) -> ConfigurationSpec:
    """Add ``spec`` under ``spec.name`` (its order is Table I's); RegistryError, nothing
    changed, for a name taken by a different spec (unless ``replace``) or a bad entry (see
    :func:`configuration_problems`). Register the augmentations it names first."""
    problems = configuration_problems(spec)
    return register(REGISTRY, "configuration", spec.name, spec, replace=replace, problems=problems)


def configuration_problems(spec: ConfigurationSpec) -> list[str]:
    """One line per rule ``spec`` breaks: its representation (one of :data:`KINDS`), the kinds
    it trains or is scored on (that representation's), augmentations (registered, for that
    representation), ``trained_as`` (a registered configuration that trains, with the same
    training samples and augmentations) and ``paper`` (only the paper's four)."""
    bad = [] if spec.display else ["display must not be empty"]
    if spec.representation not in KINDS:
        return [*bad, f"representation={spec.representation!r}: one of {tuple(KINDS)}"]
    allowed = KINDS[spec.representation]
    if set(spec.eval_fallback) - set(allowed):
        bad.append(f"eval_fallback={spec.eval_fallback!r}: a tuple of {allowed}")
    for field in ("train_kinds", "eval_kinds"):
        kinds = getattr(spec, field)
        if not kinds or set(kinds) - set(allowed):
            bad.append(f"{field}={kinds!r}: a non-empty tuple of {allowed}")
    unknown = [a for a in spec.augment if a not in AUGMENTATIONS]
    if unknown:
        bad.append(f"augment: {unknown} not registered; register_augmentation them first")
    rep = spec.representation
    wrong = [a for a in spec.augment if a in AUGMENTATIONS and AUGMENTATION_INPUTS[a] != rep]
    if wrong:
        bad.append(f"augment: {wrong} apply to other inputs than {rep!r}")
    if spec.trained_as:
        base = REGISTRY.get(spec.trained_as)
        if base is None or base.trained_as:
            bad.append(
                f"trained_as={spec.trained_as!r}: not a registered configuration that trains"
            )
        elif (base.train_kinds, base.augment) != (spec.train_kinds, spec.augment):
            bad.append(f"trained_as={spec.trained_as!r}: train_kinds and augment must be its own")
    if spec.paper and spec.name not in CONFIGURATIONS:
        bad.append(f"paper=True is for the paper's four {CONFIGURATIONS}; use paper=False")
    return bad


def _flow_configurations() -> list[ConfigurationSpec]:
    """The paper's four on optical flow (module docstring), each evaluated on the onset flow."""
    both, flip = ("flow_onset", "flow_offset"), ("flip_rotate_flow",)
    return [
        ConfigurationSpec(name, display, train_kinds=kinds, augment=aug,
                          eval_kinds=("flow_onset",), eval_fallback=("flow_offset",),
                          paper=False, representation="flow")
        for name, display, kinds, aug in (
            ("flow_baseline", "Flow Baseline (onset→apex flow)", both[:1], ()),
            ("flow_flip_rotate", "Flow Baseline + Flip/Rotate", both[:1], flip),
            ("flow_dual", "Flow Baseline + phase-aware flow Aug (apex→offset)", both, ()),
            ("flow_dual_flip_rotate", "Flow Baseline + phase-aware flow Aug + Flip/Rotate",
             both, flip),
        )
    ]  # fmt: skip


for _spec in (
    *_PAPER,
    *_phase_aware(_PAPER[2], "Dual-DI"),
    *_phase_aware(_PAPER[3], "Dual-DI + Flip/Rotate"),
    ConfigurationSpec(
        "sign_robust",
        "Sign-robust full DI (trained and evaluated on ±DI)",
        train_kinds=("full", "full_negated"),
        eval_kinds=("full", "full_negated"),
        paper=False,
    ),
    *_flow_configurations(),
):
    register_configuration(_spec)
del _spec


def get_configuration(name: str) -> ConfigurationSpec:
    """Registry entry for ``name`` (one of :data:`REGISTRY`), or a table row key
    ``<name>@<apex source>`` (see :func:`row_spec`)."""
    if "@" in name:
        return row_spec(name)
    if name not in REGISTRY:
        raise KeyError(f"unknown configuration {name!r}; choose from {sorted(REGISTRY)}")
    return REGISTRY[name]


def cuts_at_test_apex(spec: ConfigurationSpec) -> bool:
    """True for an evaluation-only configuration that scores phase DIs of the test clip: where
    those are cut (its apex source) is part of what its row means."""
    return bool(spec.trained_as) and bool({"onset", "offset"} & set(spec.eval_kinds))


def row_spec(key: str) -> ConfigurationSpec:
    """The configuration of a table row ``<name>@<source>``: ``name``'s test phase DIs cut at
    the apex ``source`` (one of :data:`APEX_SOURCES`), named so in its display."""
    name, _, source = key.partition("@")
    spec = get_configuration(name)
    if source not in APEX_SOURCES or not cuts_at_test_apex(spec):
        raise KeyError(f"{key!r}: use <phase-aware configuration>@<{' | '.join(APEX_SOURCES)}>")
    kinds = tuple(phase_kind(k, source) if k in ("onset", "offset") else k for k in spec.eval_kinds)
    display = f"{spec.display} cut at the {APEX_LABELS[source]}"
    return replace(spec, name=key, display=display, eval_kinds=kinds)


def table_rows(names: tuple[str, ...], test_apex: tuple[str, ...]) -> tuple[str, ...]:
    """The Table I rows of ``names``: each phase-aware evaluation once per apex source in
    ``test_apex`` (``dual_di_phase_eval@spotted``, ...), every other configuration as is."""
    out: list[str] = []
    for n in names:
        spec = get_configuration(n)
        out += [f"{n}@{s}" for s in test_apex] if cuts_at_test_apex(spec) else [n]
    return tuple(out)


def row_order(key: str) -> tuple[int, int]:
    """Sort key of a configuration or table row: registry order, then apex source order."""
    name, _, source = key.partition("@")
    sources = ("", *APEX_SOURCES)
    return list(REGISTRY).index(name), sources.index(source)


def display(key: str) -> str:
    """How Table I names the configuration (or row) ``key``."""
    return get_configuration(key).display


#: each of the paper's four -> its twin on optical flow, with what both add to the Baseline
FLOW_TWINS = {
    "baseline": ("flow_baseline", "Baseline"),
    "flip_rotate": ("flow_flip_rotate", "+ Flip/Rotate"),
    "dual_di": ("flow_dual", "+ phase-aware augmentation (DI-Onset/Offset | apex→offset flow)"),
    "dual_di_flip_rotate": ("flow_dual_flip_rotate", "+ phase-aware augmentation + Flip/Rotate"),
}


def representation_of(name: str) -> str:
    """The representation (``di`` | ``flow`` | ...) configuration or table row ``name`` feeds."""
    return get_configuration(name).representation


def trained(names: tuple[str, ...]) -> tuple[str, ...]:
    """The configurations whose fold models ``names`` need, in order, each once."""
    return tuple(dict.fromkeys(REGISTRY[n].trains for n in names))


def predict_from_scores(
    scores: dict[str, list], kinds: tuple[str, ...], fallback: tuple[str, ...] = ()
) -> list[int]:
    """Per clip: argmax of the mean softmax over the kinds in ``kinds`` that it has
    (``scores[kind]``: per clip a list of class logits, or None without that input), or over
    the ``fallback`` kinds it has when it has none of ``kinds``."""
    preds = []
    for i in range(len(scores[kinds[0]])):
        rows = [scores[k][i] for k in kinds if scores[k][i] is not None]
        rows = rows or [scores[k][i] for k in fallback if scores[k][i] is not None]
        if not rows:
            raise ValueError(f"test clip {i} has none of the kinds {kinds} (nor {fallback})")
        z = np.asarray(rows, dtype=np.float64)
        p = np.exp(z - z.max(1, keepdims=True))
        preds.append(int((p / p.sum(1, keepdims=True)).mean(0).argmax()))
    return preds

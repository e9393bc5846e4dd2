"""The papermill ``parameters`` cell every notebook starts with, generated from :class:`Config`.

Each line is ``name: type = default  # help``: papermill reads the type hint and the trailing
comment, so ``papermill --help-notebook notebooks/<nb>.ipynb`` lists every parameter with its
type and one line of help, and every notebook accepts every ``configs/*.yaml`` without
"Passed unknown parameter" warnings. ``python -m mer_utils.parameters`` prints the cell; ``--write`` regenerates it in
``notebooks/0*.py`` (``make notebooks`` does, then pairs the .ipynb files).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from mer_utils.config import Config, field_help


def notebook_type(annotation: str) -> str:
    """Config's annotation as a notebook literal's type: tuples are written as lists."""
    if annotation.startswith("tuple["):
        inner = annotation.removeprefix("tuple[").removesuffix("]").removesuffix(", ...")
        return f"list[{inner}]"
    return annotation.replace("Any", "object")  # no import needed in the notebook


def parameter_cell() -> str:
    """The parameters cell: every Config field, its default, type and help (papermill parses
    one ``=`` per line, so the help has none), kept as is by the formatter."""
    helps, default = field_help(), Config()
    out = ["# fmt: off"]
    for f in dataclasses.fields(Config):
        value = getattr(default, f.name)
        literal = repr(list(value) if isinstance(value, tuple) else value).replace("'", '"')
        if "=" in helps[f.name] or "\n" in helps[f.name]:
            raise ValueError(
                f"Config.{f.name}: its help has '=' or a newline; papermill cannot parse it"
            )
        out.append(f"{f.name}: {notebook_type(str(f.type))} = {literal}  # {helps[f.name]}")
    return "\n".join([*out, "# fmt: on"])


def write_cells(notebooks: list[Path]) -> list[Path]:
    """Replace the generated block (``# fmt: off`` .. ``# fmt: on``) of each notebook's
    ``parameters`` cell (jupytext py:percent files) with :func:`parameter_cell`; notebook-only
    parameters after the block are kept. Returns the files changed."""
    changed = []
    for path in notebooks:
        text = path.read_text()
        start = text.index("# fmt: off", text.index('# %% tags=["parameters"]'))
        end = text.index("# fmt: on", start) + len("# fmt: on")
        new = text[:start] + parameter_cell() + text[end:]
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        from mer_utils.paths import notebooks_dir

        for p in write_cells(sorted(notebooks_dir().glob("0*.py"))):
            print(f"{p.name}: parameters cell regenerated from Config")
    else:
        sys.stdout.write(parameter_cell() + "\n")

"""mer_utils: the shared utility package of the numbered notebooks (see README.md)."""

import warnings

# Progress bars are tqdm.auto text bars: they render in JupyterLab, in papermill's executed
# copies and in `make reproduce`'s terminal log alike; the widget variant is not needed.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

"""`python harness/stripe_compat --port P --localstripe-port L --state-dir D` runs the layer (see __init__.py)."""

import importlib
import importlib.util
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# Run as a directory, this directory is on sys.path, so its modules would be importable as top-level ones (and,
# under `python -I`, nothing else of the repository is). Load it as the package `stripe_compat` instead, so its
# modules import each other relatively, as they do when type-checked as `harness.stripe_compat`.
sys.path = [entry for entry in sys.path if Path(entry).resolve() != PACKAGE_DIR]
spec = importlib.util.spec_from_file_location(
    "stripe_compat", PACKAGE_DIR / "__init__.py", submodule_search_locations=[str(PACKAGE_DIR)]
)
assert spec is not None and spec.loader is not None
package = importlib.util.module_from_spec(spec)
sys.modules["stripe_compat"] = package
spec.loader.exec_module(package)
importlib.import_module("stripe_compat.server").main()

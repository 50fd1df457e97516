r"""Renders the generated regions of the docs from the results files.

Run::

    python scripts/render_docs.py           # rewrite every region in place
    python scripts/render_docs.py --check   # change nothing; exit 1 on any stale,
                                            # unknown or unrenderable region, or on
                                            # benchmark figures that contradict
                                            # each other

The renderers, one module per page section, and the consistency checks live
in ``scripts/docs_render/`` (its ``__init__`` says how to add a region).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docs_render import *  # noqa: E402, F403
from docs_render import __all__ as __all__  # noqa: E402
from docs_render import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

"""gb: the General Bots server rebuilt for very large scale.

The repository's top-level areas are mapped into this package by ``setup.py``:
``gb.core`` (the node), ``gb.protocol`` (wire protocol), ``gb.client`` (Python SDK),
``gb.bots`` and ``gb.compiler``.
"""

__version__ = "0.1.0"

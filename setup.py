"""Build of gb: maps the top-level folders into ``gb`` and compiles the native hot paths."""

import glob
import os

import picows
from Cython.Build import cythonize
from setuptools import Extension, setup

AREAS = ["core", "protocol", "bots", "compiler", "client"]

# One extension per concern; each has a .pyx, a .pxd (cimportable) and a .pyi (typed surface).
NATIVE = sorted(os.path.basename(p)[:-4] for p in glob.glob("core/_native/*.pyx"))
if os.environ.get("GB_NATIVE_ONLY"):  # rebuild one extension while working on it
    NATIVE = [n for n in NATIVE if n in os.environ["GB_NATIVE_ONLY"].split(",")]

packages = ["gb"]
package_dir = {"gb": "gb"}
for area in AREAS:
    for root, dirs, files in os.walk(area):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
        if "__init__.py" in files:
            packages.append("gb." + root.replace(os.sep, "."))
    package_dir["gb." + area] = area

# A tree of links that shows the sources under their import names (gb/core -> core, ...):
# Cython resolves ``cimport gb.core._native.x`` through it, and mypy checks ``-p gb`` in it.
TREE = os.path.join("build", "pkg")
os.makedirs(os.path.join(TREE, "gb"), exist_ok=True)
for link, target in [("__init__.py", "gb/__init__.py"), ("__main__.py", "gb/__main__.py")] + [
    (area, area) for area in AREAS
]:
    path = os.path.join(TREE, "gb", link)
    if not os.path.lexists(path):
        os.symlink(os.path.join("..", "..", "..", target), path)

trace = os.environ.get("GB_NATIVE_TRACE") == "1"  # line tracing for coverage of .pyx
macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if trace else []

extensions = [
    Extension(
        f"gb.core._native.{name}",
        [f"core/_native/{name}.pyx"],
        include_dirs=[os.path.dirname(picows.__file__)],
        define_macros=macros,
        extra_compile_args=["-O3"],
    )
    for name in NATIVE
]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "gb.core._native": ["*.pxd", "*.pyi"],
        "gb.core.storage": ["migrations/*/*.sql"],
        "gb.protocol": ["SPEC.md"],
    },
    ext_modules=cythonize(
        extensions,
        include_path=[TREE, os.path.dirname(os.path.dirname(picows.__file__))],
        compiler_directives={
            "language_level": "3",
            "binding": trace,
            "linetrace": trace,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
        },
    ),
)

"""Build of the escrow._core SWIG extension (the rest is in pyproject.toml).

Where libescrow is found, in order:
  ESCROW_INCLUDE_DIR / ESCROW_LIBRARY_DIR   a build tree (the repository's tests use this;
                                            the library directory is also put in the rpath)
  pkg-config libescrow                      an installed library (PKG_CONFIG_PATH honoured),
                                            or a build tree's libescrow-uninstalled.pc
  /usr/local, /usr                          last resort

The SWIG interface src/escrow/escrow.i is compiled when SWIG is available; otherwise the
pre-generated src/escrow/escrow_wrap.c and core.py (shipped in the sdist) are used, so
installing from an sdist needs no SWIG.
"""
import os
import shutil
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.join("src", "escrow")
IFACE = os.path.join(PKG, "escrow.i")
WRAP = os.path.join(PKG, "escrow_wrap.c")


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "libescrow"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.split()


def _flags():
    inc = os.environ.get("ESCROW_INCLUDE_DIR")
    lib = os.environ.get("ESCROW_LIBRARY_DIR")
    if inc and lib:
        return {"include_dirs": [inc], "library_dirs": [lib], "libraries": ["escrow"],
                "runtime_library_dirs": [lib]}
    cflags = _pkg_config("--cflags")
    libs = _pkg_config("--libs")
    if cflags is not None and libs is not None:
        return {
            "include_dirs": [f[2:] for f in cflags if f.startswith("-I")],
            "library_dirs": [f[2:] for f in libs if f.startswith("-L")],
            "libraries": [f[2:] for f in libs if f.startswith("-l")],
            # the build tree's libescrow-uninstalled.pc sets an rpath to its library
            "runtime_library_dirs": [f[len("-Wl,-rpath,"):] for f in libs
                                     if f.startswith("-Wl,-rpath,")],
        }
    return {"include_dirs": ["/usr/local/include"], "library_dirs": ["/usr/local/lib"],
            "libraries": ["escrow"]}


def _use_swig():
    if shutil.which("swig") is None:
        if not os.path.exists(os.path.join(HERE, WRAP)):
            raise SystemExit("escrow: SWIG is needed to build from a source checkout "
                             "(apt-get install swig), or install from the sdist")
        return False
    if os.path.exists(os.path.join(HERE, WRAP)) and \
            os.path.getmtime(os.path.join(HERE, WRAP)) >= os.path.getmtime(os.path.join(HERE, IFACE)):
        return False
    return True


def _run_swig(include_dirs):
    cmd = ["swig", "-python", "-threads", "-outdir", PKG, "-o", WRAP]
    cmd += ["-I" + d for d in include_dirs]
    cmd.append(IFACE)
    subprocess.run(cmd, check=True, cwd=HERE)


class BuildExt(build_ext):
    def run(self):
        if _use_swig():
            _run_swig(self.extensions[0].include_dirs)
        super().run()


class BuildPy(build_py):
    """Run build_ext first, so the SWIG-generated core.py exists when modules are copied."""

    def run(self):
        self.run_command("build_ext")
        super().run()


class SDist(sdist):
    """Generate the wrapper so the sdist carries escrow_wrap.c and core.py."""

    def run(self):
        if _use_swig():
            _run_swig(_flags()["include_dirs"])
        super().run()


flags = _flags()
setup(
    ext_modules=[Extension("escrow._core", sources=[WRAP],
                           extra_compile_args=["-Wno-unused-parameter"], **flags)],
    cmdclass={"build_ext": BuildExt, "build_py": BuildPy, "sdist": SDist},
)

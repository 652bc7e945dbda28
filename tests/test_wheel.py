"""The distribution: `python -m build` makes an sdist and a wheel named chimney-toe; the
wheel, installed into a fresh venv with nothing else, runs `chimney generate`."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--n-neighbor", "4", "--n-path", "8", "--n-tcp", "16", "--n-req", "64"]


def test_wheel_installs_alone_and_generates(tmp_path):
    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    wheels, sdists = list(dist.glob("chimney_toe-*.whl")), list(dist.glob("chimney_toe-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    for module in ("chimney/__main__.py", "chimney/generate.py", "chimney/wrapper.py", "chimney/contract/rdl.py",
                   "chimney/rtl/engine.py", "chimney/rtl/top.py", "chimney/sw/driver.py"):
        assert module in names, module
    assert not any(n.startswith(("tests/", "rtl/", "build/")) for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheels[0])],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # outside the repository, so nothing of it is on the path
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([str(env_dir / "bin" / "chimney"), "generate", "--out", "gen", *SMALL],
                          cwd=work, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    for name in ("chimney_engine.v", "chimney_engine_axi.v", "chimney_engine_axi.veo", "chimney_engine_axi.vho",
                 "chimney.rdl", "regmap.json", "chimney_regs.h", "chimney_regs.vh", "chimney_engine.names.json"):
        assert (work / "gen" / name).stat().st_size > 0, name
    where = subprocess.run([str(py), "-c", "import chimney.rtl.engine as e; print(e.__file__)"],
                           cwd=work, capture_output=True, text=True, timeout=120).stdout
    assert str(env_dir) in where and str(ROOT) not in where, where
    # only the base dependencies came with it: no simulator, no test tools
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], capture_output=True,
                            text=True, timeout=120).stdout.lower()
    assert "amaranth==" in listed and "cocotb" not in listed and "pytest" not in listed

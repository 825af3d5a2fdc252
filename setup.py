"""Build hooks that setup.cfg cannot express.

The package registers its lmms-eval tasks through a one-line ``.pth`` file placed at the root of
site-packages (see ``lmms_safebench/harness/discovery.py`` for why). setuptools only installs files that
belong to a package, so the two commands below copy that file next to the packages: ``build_py``
for regular wheels and ``editable_wheel`` for ``pip install -e``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "lmms_safebench_tasks.pth"
PTH_SOURCE = Path(__file__).parent / "lmms_safebench" / PTH_NAME


class build_py_with_pth(build_py):
    def run(self):
        super().run()
        self.copy_file(str(PTH_SOURCE), str(Path(self.build_lib) / PTH_NAME), preserve_mode=0)

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH_NAME)]


cmdclass = {"build_py": build_py_with_pth}

try:
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:  # setuptools < 64: `pip install -e` goes through build_py above
    pass
else:

    class editable_wheel_with_pth(editable_wheel):
        # setuptools has no public hook for extra files in an editable wheel; everything left in
        # `unpacked_wheel` after the build commands ends up in the wheel, so the file goes there.
        def _run_build_commands(self, dist_name, unpacked_wheel, build_lib, tmp_dir):
            result = super()._run_build_commands(dist_name, unpacked_wheel, build_lib, tmp_dir)
            self.copy_file(str(PTH_SOURCE), str(Path(unpacked_wheel) / PTH_NAME), preserve_mode=0)
            return result

    cmdclass["editable_wheel"] = editable_wheel_with_pth

setup(cmdclass=cmdclass)

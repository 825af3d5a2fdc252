"""The one build step setup.cfg cannot express: installing ``lmms_safebench_tasks.pth`` at the root of site-packages.

Task discovery (``lmms_safebench/harness/discovery.py``) needs one line run at every interpreter start, and Python
runs only ``.pth`` files that sit directly in site-packages. No declarative option puts a file there: package_data
and include_package_data install inside a package, ``data_files`` install under the environment's prefix (a
site-packages path there would be version- and platform-specific), and setuptools' editable wheels map packages only.
So the two commands below copy the file next to the packages: ``build_py`` for regular wheels, ``editable_wheel``
for ``pip install -e`` (pyproject.toml requires a setuptools that has it).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH_NAME = "lmms_safebench_tasks.pth"
PTH_SOURCE = Path(__file__).parent / "lmms_safebench" / PTH_NAME


class build_py_with_pth(build_py):
    def run(self):
        super().run()
        self.copy_file(str(PTH_SOURCE), str(Path(self.build_lib) / PTH_NAME), preserve_mode=0)

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH_NAME)]


class editable_wheel_with_pth(editable_wheel):
    # setuptools has no public hook for extra files in an editable wheel; everything left in `unpacked_wheel`
    # after the build commands ends up in the wheel, so the file goes there.
    def _run_build_commands(self, dist_name, unpacked_wheel, build_lib, tmp_dir):
        result = super()._run_build_commands(dist_name, unpacked_wheel, build_lib, tmp_dir)
        self.copy_file(str(PTH_SOURCE), str(Path(unpacked_wheel) / PTH_NAME), preserve_mode=0)
        return result


setup(cmdclass={"build_py": build_py_with_pth, "editable_wheel": editable_wheel_with_pth})

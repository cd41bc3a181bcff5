"""PyInstaller's hook for fervid (see fervid._pyinstaller): its data files, the files in the package that are not
Python: every model's weights, config and card, the face detector, the web pages and the samples."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("fervid")

# Sourced by .ci/run and .ci/lowest-versions (from the repository's root): the installed wheel's checks, run from
# outside the source tree, and what they need.

# The wheel's tests run as a distribution runs them against its package: tests/ copied alone, out of the source tree,
# with FERVID_TEST_INSTALLED=1 (CONTRIBUTING.md, "Testing an installed fervid"); the test tools are the test-core
# extra's. A test that reads the repository skips there (conftest's needs_repository), one that needs torch too.

# the test files each wheel venv runs: those worth the minutes in three venvs (every file passes or skips there);
# test_docs.py, test_pyproject.py and benchmarks/ skip whole, which checks that they still do
WHEEL_TEST_FILES=(
  tests/inference/test_align.py tests/inference/test_analyzer.py tests/inference/test_detect.py
  tests/inference/test_images.py tests/inference/test_models.py tests/inference/test_options.py
  tests/inference/test_records.py tests/inference/test_video.py
  tests/apps/test_cli.py tests/apps/test_server.py tests/evaluation/test_segments.py
  tests/test_conftest.py tests/test_docs.py tests/test_pyproject.py tests/benchmarks
)

# copy_wheel_tests DIR: tests/ alone into DIR/tests (what the sdist holds of it: no caches, no browser screenshots)
copy_wheel_tests() {
  tar --exclude=__pycache__ --exclude=tests/e2e -cf - tests | tar -xf - -C "$1"
}

# cpython VERSION (3.10.13): the path of that CPython, pyenv's, else python3.10 on the PATH
cpython() {
  local python
  python="$(pyenv root 2>/dev/null)/versions/$1/bin/python${1%.*}"
  if [ ! -x "$python" ]; then
    python="$(command -v "python${1%.*}" || true)"
  fi
  if [ -z "$python" ]; then
    echo "error: no CPython ${1%.*} found (pyenv install $1)" >&2
    return 1
  fi
  echo "$python"
}

# run_wheel_checks VENV DIR: in DIR (copy_wheel_tests's), VENV's fervid is the installed wheel; its tests pass
# (pytest's extra arguments from PYTEST_ARGS, e.g. -x or -k while changing these scripts); `fervid demo` writes its
# annotated image (into DIR/demo-VENV's name), and its annotated video where the wheel holds the carphone clip. The
# wheel holds it where the tree it was built from does (package-data's samples/*.mp4; a distribution may build
# without it, its terms not being stated), and the demo then says in one line that it skipped the video. Run from
# the repository's root, as .ci/run and .ci/lowest-versions source this file.
run_wheel_checks() {
  local python="$1/bin/python" demo="$2/demo-${1##*/}" clip_built=False
  if [ -f src/fervid/samples/carphone_pristine.mp4 ]; then
    clip_built=True
  fi
  (
    cd "$2"
    "$python" -c "import fervid, sys; assert 'site-packages' in fervid.__file__, fervid.__file__; print('fervid from', fervid.__file__, 'on', sys.version.split()[0])"
    # shellcheck disable=SC2086  # PYTEST_ARGS: words
    FERVID_TEST_INSTALLED=1 "$python" -m pytest -q -p no:cacheprovider -rs -m "not slow" ${PYTEST_ARGS:-} \
      "${WHEEL_TEST_FILES[@]}"
    clip_installed="$("$python" -c "from fervid.samples import CARPHONE_FILE; print(CARPHONE_FILE.is_file())")" \
      || exit 1
    if [ "$clip_installed" != "$clip_built" ]; then
      echo "error: samples/carphone_pristine.mp4 in the tree the wheel was built from: $clip_built; in the" \
        "installed wheel: $clip_installed" >&2
      exit 1
    fi
    said="$("$1/bin/fervid" demo --out "$demo")" || exit 1
    printf '%s\n' "$said"
    test -s "$demo/astronaut_fervid.png" || exit 1
    if [ "$clip_installed" = True ]; then
      test -s "$demo/carphone/carphone_pristine_annotated.mp4"
    else
      grep -qx "carphone video: skipped, the sample clip is not installed (.*)" <<<"$said" && test ! -e "$demo/carphone"
    fi
  )
}

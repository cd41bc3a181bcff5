# Sourced by .ci/run and .ci/lowest-versions (from the repository's root): the installed wheel's checks, run from
# outside the source tree, and what they need.

# the test tools each wheel venv installs beside the wheel
WHEEL_TEST_TOOLS=(pytest httpx httpx2 scikit-image)

# copy_wheel_tests DIR: the tests that need no torch and no repository file into DIR/tests
copy_wheel_tests() {
  local tests="$1/tests"
  mkdir -p "$tests/inference" "$tests/apps" "$tests/evaluation"
  cp tests/conftest.py "$tests/"
  cp tests/inference/test_align.py tests/inference/test_analyzer.py tests/inference/test_detect.py \
     tests/inference/test_images.py tests/inference/test_models.py tests/inference/test_options.py \
     tests/inference/test_records.py tests/inference/test_video.py "$tests/inference/"
  cp tests/apps/test_cli.py tests/apps/test_server.py tests/apps/served.py "$tests/apps/"
  cp tests/evaluation/test_segments.py "$tests/evaluation/"
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
# annotated image and video (into DIR/demo-VENV's name)
run_wheel_checks() {
  local python="$1/bin/python" demo="$2/demo-${1##*/}"
  (
    cd "$2"
    "$python" -c "import fervid, sys; assert 'site-packages' in fervid.__file__, fervid.__file__; print('fervid from', fervid.__file__, 'on', sys.version.split()[0])"
    # shellcheck disable=SC2086  # PYTEST_ARGS: words
    "$python" -m pytest -q -p no:cacheprovider -m "not slow" ${PYTEST_ARGS:-} tests
    "$1/bin/fervid" demo --out "$demo"
    test -s "$demo/astronaut_fervid.png" && test -s "$demo/carphone/carphone_pristine_annotated.mp4"
  )
}

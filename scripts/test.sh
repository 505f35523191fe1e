#!/usr/bin/env bash
#  Installs what is missing, builds, and runs the whole test suite twice: a normal
#  build, then an AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh build
(cd build && ctest --output-on-failure --timeout 300)

scripts/setup.sh build-asan -DZDEX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd build-asan && ctest --output-on-failure --timeout 600)
echo "test.sh: all suites passed (normal and ASan+UBSan builds)"

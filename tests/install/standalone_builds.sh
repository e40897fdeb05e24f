#!/usr/bin/env bash
# A new user's path: `cmake --install` libflow into a temporary prefix,
# then build examples/standalone (copied out of the repository) against
# it with find_package(libflow CONFIG REQUIRED), as one's own program is
# built. Fails if the install rules, the package config or its
# dependencies break, or if the program's headers come from the source
# tree instead of the installed one.
# Usage: standalone_builds.sh <libflow build dir> <libflow source dir>
set -euo pipefail
build="${1:?libflow build dir}"
source="${2:?libflow source dir}"
work="$(mktemp -d /tmp/flow-install.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" \
  || { cat "$work/install.log" >&2; fail "cmake --install failed"; }
for lib in libflow.a libflow_runtime.a libflow_connectors.a libflow_kafka.a; do
  [[ -f "$work/prefix/lib/$lib" ]] || fail "no lib/$lib in the installed tree"
done

cp -r "$source/examples/standalone" "$work/project"
# Every target the package promises, next to the template's own build.
cat >>"$work/project/CMakeLists.txt" <<'CMAKE'
foreach(t flow::flow flow::runtime flow::connectors flow::kafka)
  if(NOT TARGET ${t})
    message(FATAL_ERROR "find_package(libflow) did not define ${t}")
  endif()
endforeach()
CMAKE
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$work/project" -B "$work/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "${launcher[@]}" \
  || fail "configuring the template against the installed tree failed"
cmake --build "$work/build" || fail "building the template failed"
if grep -q -- "$source/" "$work/build/compile_commands.json"; then
  fail "the template was compiled with paths into the source tree"
fi

"$work/build/uppercase" --help >"$work/help.txt" 2>&1 \
  || { cat "$work/help.txt" >&2; fail "uppercase --help failed"; }
grep -q -- "--kafka.bootstrap" "$work/help.txt" \
  || { cat "$work/help.txt" >&2; fail "uppercase --help lists no kafka options"; }
echo "PASS: examples/standalone builds and runs against an installed libflow"

#!/usr/bin/env bash
# Runs every test project of the solution and ends with one line
#   N passed, N failed, N skipped
# summed over the test assemblies. Exits non-zero when a test failed or nothing ran.
# Privileged tests (BPF, netns) need root; under CI=true they fail instead of skipping.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts

bash scripts/sweep-test-leftovers.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet test ProxyReplacement.sln -c "${CONFIGURATION:-Release}" --nologo -v q \
  -p:TestTfmsInParallel=false -m:1 --logger "console;verbosity=minimal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# VSTest prints one summary per assembly:
#   Passed!  - Failed:     0, Passed:    42, Skipped:     1, Total:    43, Duration: ...
read -r passed failed skipped < <(grep -E '(Passed|Failed)! +- Failed: ' "$log" | awk -F'[:,]' '
  { f += $2; p += $4; s += $6 } END { printf "%d %d %d\n", p, f, s }')

# The benchmark smoke run (tiny sizes) counts as one test: the harness must keep working.
if bash scripts/bench.sh --smoke --report artifacts/bench-smoke.md > artifacts/bench-smoke.log 2>&1; then
  passed=$((passed + 1))
  echo "bench smoke: passed (report artifacts/bench-smoke.md)"
else
  failed=$((failed + 1))
  status=1
  echo "bench smoke: FAILED; its log:"
  tail -n 40 artifacts/bench-smoke.log
fi

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # a build error or a crashed test host: count it as a failure so the line cannot read green
  failed=1
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "run-tests: no test ran" >&2
  exit 1
fi
exit "$status"

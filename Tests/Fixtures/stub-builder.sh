#!/bin/sh
# A stand-in for buildah in the build-farm process tests (fairness, crashes): the orchestrator,
# the worker processes and the protocol are real; only the image build is simulated.
#   bud ...  -f <Dockerfile> ...   prints STEP lines and sleeps the seconds named by a
#                                  "# stub-sleep <n>" line of the Dockerfile (default 1)
#   push --digestfile <f> ...      writes a fixed digest to <f>
# Anything else succeeds silently.
case "$1" in
  bud|build)
    dockerfile=""
    while [ $# -gt 0 ]; do
      if [ "$1" = "-f" ]; then shift; dockerfile="$1"; fi
      shift
    done
    seconds=$(sed -n 's/^# stub-sleep \([0-9.]*\)$/\1/p' "$dockerfile" 2>/dev/null | head -n 1)
    echo "STEP 1/2: FROM scratch"
    echo "STEP 2/2: RUN stub-build ${seconds:-1}s"
    sleep "${seconds:-1}"
    echo "COMMIT"
    ;;
  push)
    while [ $# -gt 0 ]; do
      if [ "$1" = "--digestfile" ]; then shift; printf 'sha256:%s' "$(printf '%064d' 0)" > "$1"; fi
      shift
    done
    ;;
esac
exit 0

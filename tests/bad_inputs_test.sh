#!/usr/bin/env bash
# Runs the bad-input corpus (tests/data/bad/manifest.tsv, written by tools/make_bad_inputs.py) through the
# real CLI. For every case: the exit code is the expected one; a failure prints exactly one line on stderr,
# containing the expected fragment, at most 2,000 bytes, with no raw escape character, and nothing on stdout
# (SystemC's "Simulation stopped by user." once went there); a success prints the
# fragment on stdout; nothing is left in the case's temporary folder but what the case put there, and no
# temporary output file (.*.tmp-*) remains; every run ends within 60 s (a hang fails).
#   bash tests/bad_inputs_test.sh VITSIM_BINARY SOURCE_DIR
set -uo pipefail
vitsim="$1"
root="$2"
data="$root/tests/data/bad"
cd "$root" || exit 1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
count=0
while IFS=$'\t' read -r file rc fragment command; do
  [[ "$file" == \#* || -z "$file" ]] && continue
  count=$((count + 1))
  t="$work/case$count"
  mkdir -p "$t"
  mkfifo "$t/fifo"
  cp "$data/base/tiny.vqg" "$t/g.vqg"
  cp "$data/base/tiny.onnx" "$t/m.onnx"
  echo '{}' >"$t/target.json"
  ln -s "$t/target.json" "$t/link.json"
  cmd="${command//\{f\}/$data/$file}"
  cmd="${cmd//\{d\}/$data}"
  cmd="${cmd//\{t\}/$t}"
  cmd="${cmd//\{fifo\}/$t/fifo}"
  while [[ "$cmd" =~ \{copy:([^}]*)\} ]]; do
    src="${BASH_REMATCH[1]}"
    cp -r "$data/$src" "$t/copy"
    cmd="${cmd//\{copy:$src\}/$t/copy}"
  done
  eval "args=($cmd)"
  timeout 60 "$vitsim" "${args[@]}" >"$t/.stdout" 2>"$t/.stderr"
  got=$?
  problem=""
  lines=$(wc -l <"$t/.stderr")
  if [[ "$got" != "$rc" ]]; then
    problem="exit code $got, expected $rc"
  elif [[ "$rc" != 0 && "$lines" != 1 ]]; then
    problem="$lines lines on stderr, expected one"
  elif [[ "$rc" != 0 && -s "$t/.stdout" ]]; then
    problem="a failure printed on stdout: $(head -c 200 "$t/.stdout")"
  elif [[ "$rc" != 0 ]] && ! grep -qF -- "$fragment" "$t/.stderr"; then
    problem="stderr lacks '$fragment'"
  elif [[ "$rc" == 0 ]] && ! grep -qF -- "$fragment" "$t/.stdout"; then
    problem="stdout lacks '$fragment'"
  elif (($(wc -c <"$t/.stderr") > 2000)); then
    problem="a message of $(wc -c <"$t/.stderr") bytes"
  elif grep -q $'\x1b' "$t/.stderr" "$t/.stdout"; then
    problem="a raw escape character reached the terminal"
  elif grep -q "E549\|uncaught exception" "$t/.stderr" "$t/.stdout"; then
    problem="an uncaught exception"
  elif [[ -n "$(find "$t" -name '.*.tmp-*' -o -name '*.tmp-*')" ]]; then
    problem="a temporary file was left behind"
  elif [[ "$(cat "$t/target.json")" != '{}' ]]; then
    problem="the symbolic link's target was written"
  fi
  if [[ -n "$problem" ]]; then
    failures=$((failures + 1))
    echo "FAIL [$file] vitsim $cmd: $problem"
    sed 's/^/  stderr: /' "$t/.stderr" | head -c 600
  fi
done <"$data/manifest.tsv"
echo "$count bad-input cases, $failures failed"
((count >= 100 && failures == 0))

# Sourced by the bench scripts (not run): `bench_figure NAME VALUE REFERENCE [higher|lower]`
# records one headline figure as its ratio to the reference measured in the same run (VALUE
# / REFERENCE; "lower" when a smaller ratio is better: CPU time, round-trip time) by
# appending "NAME<TAB>RATIO<TAB>DIRECTION" to the file $BENCH_FIGURES names, when it is set
# (Scripts/bench sets it, compares each ratio with the last one BENCHMARKS.md recorded and
# marks a fall of more than 10%). Without $BENCH_FIGURES it does nothing, so a script run by
# hand prints its tables only. A missing or zero value or reference records nothing.

bench_figure() {  # NAME VALUE REFERENCE [higher|lower]
  [ -n "${BENCH_FIGURES:-}" ] || return 0
  awk -v n="$1" -v v="${2:-0}" -v r="${3:-0}" -v d="${4:-higher}" \
    'BEGIN { if (v + 0 > 0 && r + 0 > 0) printf "%s\t%.3f\t%s\n", n, v / r, d }' >>"$BENCH_FIGURES"
}

bench_median() {  # FILE NAME COLUMN: the median of COLUMN over FILE's lines whose first word is NAME
  awk -v n="$2" -v c="$3" '$1 == n { print $c }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) printf "%.3f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench_exec_median() {  # OUTPUT LINE: the median on the LINE-th line of Scripts/exec-time.py's OUTPUT
  awk -v line="$2" 'NR == line { for (i = 1; i < NF; i++) if ($i == "median") print $(i + 1) }' <<<"$1"
}

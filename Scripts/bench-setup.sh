# Sourced by the bench scripts (not run): `bench_setup EXAMPLE` builds Examples/EXAMPLE for
# unix ($unix) and spt ($spt), the tool ($tool) and the release tender as `sirocco run` builds
# it ($tender); makes a scratch directory ($tmp) and two namespaces: $ns with lo, tap0
# (10.0.0.1/24 and fd00::1/64; the unikernel is 10.0.0.2 or fd00::2) and veth0 (10.0.1.1/24),
# and $peer with lo and veth1 (10.0.1.2/24). On exit everything started in them is killed and
# all of it removed. After it, `bench_base REVISION EXAMPLE` builds the spt image of
# Examples/EXAMPLE ($base_spt) and the tender ($base_tender) at REVISION, in a git worktree
# under $tmp removed at exit, for before/after comparisons in one run.

bench_cleanup() {
  for n in "$ns" "$peer"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true
    sleep 0.2
    ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || true
  done
  rm -rf "$tmp"
}

bench_setup() {  # EXAMPLE
  ns=sirocco-bench-$$
  peer=sirocco-peer-$$
  swift build --product sirocco >/dev/null
  tool=$(swift build --show-bin-path)/sirocco
  unix=$("$tool" build "Examples/$1" 2>/dev/null)
  spt=$("$tool" build --target spt "Examples/$1" 2>/dev/null)
  swift build -c release --scratch-path .build-unix --product sirocco-spt >/dev/null
  tender=$PWD/.build-unix/release/sirocco-spt
  tmp=$(mktemp -d)
  trap bench_cleanup EXIT
  ip netns add "$ns"
  ip netns add "$peer"
  ip -n "$ns" link set lo up
  ip -n "$peer" link set lo up
  ip -n "$ns" tuntap add tap0 mode tap
  ip -n "$ns" addr add 10.0.0.1/24 dev tap0
  ip -n "$ns" -6 addr add fd00::1/64 dev tap0 nodad
  ip -n "$ns" link set tap0 up
  ip -n "$ns" link add veth0 type veth peer name veth1 netns "$peer"
  ip -n "$ns" addr add 10.0.1.1/24 dev veth0
  ip -n "$ns" link set veth0 up
  ip -n "$peer" addr add 10.0.1.2/24 dev veth1
  ip -n "$peer" link set veth1 up
}

bench_base() {  # REVISION EXAMPLE
  git worktree add -q --detach "$tmp/base" "$1"
  trap 'git worktree remove --force "$tmp/base"; bench_cleanup' EXIT
  (cd "$tmp/base" && swift build --product sirocco >/dev/null)
  base_spt=$(cd "$tmp/base" && "$(swift build --show-bin-path)/sirocco" build --target spt "Examples/$2" 2>/dev/null)
  (cd "$tmp/base" && swift build -c release --scratch-path .build-unix --product sirocco-spt >/dev/null)
  base_tender=$tmp/base/.build-unix/release/sirocco-spt
}

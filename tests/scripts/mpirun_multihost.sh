#!/usr/bin/env bash
# Many hosts: three network namespaces joined by veth pairs to a bridge (in a fourth) act as
# hosts h0, h1, h2 at 10.77.0.1-3. mpirun runs in h0 with a host file of their addresses and a
# launch agent that starts Open MPI's daemons inside the namespaces (as ssh would on real hosts).
# One training job spans them: the learner alone on h0, a replay shard and an actor on each of h1
# and h2, the data plane over tcp between the hosts with CURVE on (server and client keys from
# `mnemo keygen`, the client's public key the only one authorized). Exit 77 (skipped) with the
# reason where namespaces cannot be made (not root, no iproute2, no netns support).
set -uo pipefail
MNEMO=$(realpath "${1:?path to mnemo}")
MPIRUN=$(command -v "${2:-mpirun}")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
command -v ip > /dev/null && command -v bridge > /dev/null || skip "no ip or bridge command (iproute2)"
command -v unshare > /dev/null || skip "no unshare command (util-linux)"
[[ $(id -u) == 0 ]] || skip "making network namespaces needs root"
OUT=$(mktemp -d)
P=mh$$-  # namespace prefix, unique per run
V=m$$    # interface name prefix (at most 15 characters in all)
cleanup() {
  pkill -9 -f "$OUT/" 2> /dev/null
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P"); do ip netns del "$ns"; done
  rm -rf "$OUT"
}
trap cleanup EXIT
ip netns add "${P}sw" 2> "$OUT/err" || skip "cannot create a network namespace: $(cat "$OUT/err")"
ip netns exec "${P}sw" unshare --uts true 2> "$OUT/err" ||
  skip "cannot enter a network namespace with a UTS namespace of its own: $(cat "$OUT/err")"
fail() { echo "FAILED: $*"; cat "$OUT/out.txt" 2> /dev/null; exit 1; }
ip -n "${P}sw" link add br0 type bridge || skip "cannot create a bridge in a namespace"
ip -n "${P}sw" link set br0 up
for i in 0 1 2; do
  ip netns add "$P$i"
  ip link add "${V}h$i" type veth peer name "${V}s$i" || skip "cannot create veth pairs"
  ip link set "${V}h$i" netns "$P$i" name eth0
  ip link set "${V}s$i" netns "${P}sw"
  ip -n "${P}sw" link set "${V}s$i" master br0 up
  ip -n "$P$i" addr add "10.77.0.$((i + 1))/24" dev eth0
  ip -n "$P$i" link set eth0 up
  ip -n "$P$i" link set lo up
done

# Links come up asynchronously: wait (with a deadline) until every host's eth0 and every bridge
# port forward, else Open MPI's daemons may not reach mpirun.
up() {
  for i in 0 1 2; do ip -n "$P$i" -o link show eth0 | grep -q "state UP" || return 1; done
  [[ $(bridge -n "${P}sw" link show | grep -c "state forwarding") == 3 ]]
}
for _ in $(seq 100); do up && break; sleep 0.1; done
up || fail "the namespaces' links did not come up: $(ip -n "${P}sw" -o link show)"

# The launch agent: Open MPI calls it as `agent HOST COMMAND...`, as it would call ssh.
# Each host also has a UTS namespace of its own, with its own host name (h0, h1, h2), so that Open
# MPI's per-host session directories under /tmp do not collide.
cat > "$OUT/agent.sh" << AGENT
#!/bin/sh
n=\$((\${1##*.} - 1)); shift
exec ip netns exec "$P\$n" unshare --uts sh -c "hostname h\$n && \$*"
AGENT
chmod +x "$OUT/agent.sh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=2\n10.77.0.3 slots=2\n' > "$OUT/hosts"
mkdir -p "$OUT/keys"
"$MNEMO" keygen "$OUT/keys/server" > /dev/null && "$MNEMO" keygen "$OUT/keys/client" > /dev/null ||
  fail "mnemo keygen"

net=10.77.0.0/24
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
timeout --kill-after=20 420 ip netns exec "${P}0" unshare --uts sh -c 'hostname h0 && exec "$@"' sh "$MPIRUN" --hostfile "$OUT/hosts" -np 5 \
  --mca plm_rsh_agent "$OUT/agent.sh" --mca oob_tcp_if_include "$net" --mca btl self,tcp \
  --mca btl_tcp_if_include "$net" \
  "$MNEMO" train "$SRC/launch/configs/cartpole_ppo.yaml" --run-dir "$OUT/run" \
  --set learner.total_env_steps=40000 --set run.progress=false --set topology.replay=2 \
  --set topology.interface="$net" --set learner.param_bind='tcp://0.0.0.0:*' --set replay.bind='tcp://0.0.0.0:*' \
  --set replay.curve_secret_key_file="$OUT/keys/server.key" \
  --set replay.curve_authorized_keys="[$OUT/keys/client.pub]" \
  --set replay.client.curve_server_key_file="$OUT/keys/server.pub" \
  --set replay.client.curve_key_file="$OUT/keys/client.key" < /dev/null > "$OUT/out.txt" 2>&1 ||
  fail "mpirun exited with $?"
got=$(sed -n 's/^run .*: \([0-9]*\) env steps, .*/\1/p' "$OUT/out.txt" | tail -1)
((${got:-0} >= 40000)) || fail "trained on ${got:-no} env steps, not 40000"
log0=$OUT/run/logs/rank-0.log
grep -q "^node 0 (10.77.0.1): rank 0 learner 0$" "$log0" || fail "the learner is not alone on h0"
grep -q "^node 1 (10.77.0.2): rank 1 replay 0, rank 2 actor 0$" "$log0" || fail "h1 has not a shard and an actor"
grep -q "^node 2 (10.77.0.3): rank 3 replay 1, rank 4 actor 1$" "$log0" || fail "h2 has not a shard and an actor"
for r in 0 1 2 3 4; do
  grep -q "rank $r/5 role .* on 10.77.0.$(( r == 0 ? 1 : (r + 1) / 2 + 1 )); replay tcp://10.77.0.2:[0-9]*,tcp://10.77.0.3:[0-9]*, params tcp://10.77.0.1:[0-9]*; data plane with CURVE" \
    "$OUT/run/logs/rank-$r.log" || fail "rank $r: not on its host, or the data plane is not over tcp between the hosts with CURVE"
done
echo "PASSED: $got env steps over 3 hosts"

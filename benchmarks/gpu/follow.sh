#!/usr/bin/env bash
# On the GPU machine: follow a background GPU session (run_engines.sh) for at most MAX_S seconds
# (default 540) or until it has finished, printing its progress log as it grows; then copy what it
# has produced so far into $OUT (one tarball of results and logs, the progress log), so that every
# call brings back a snapshot even if a later one never comes.
#   bash benchmarks/gpu/follow.sh [MAX_S]
ENG=${ENG:-/root/eng}; MAX=${1:-540}; OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
t0=$SECONDS; seen=$(cat "$ENG/.seen" 2>/dev/null || echo 0)
while :; do
  n=$(wc -c < "$ENG/progress.log" 2>/dev/null || echo 0)
  if [ "$n" -gt "$seen" ]; then tail -c +"$((seen + 1))" "$ENG/progress.log" | head -c $((n - seen)); seen=$n; fi
  [ -f "$ENG/finished" ] && { echo "== session finished"; break; }
  [ $((SECONDS - t0)) -ge "$MAX" ] && { echo "== still running after ${MAX} s"; break; }
  sleep 3
done
echo "$seen" > "$ENG/.seen"
cp "$ENG/progress.log" "$OUT/" 2>/dev/null
tar czf "$OUT/eng.tgz" -C "$ENG" --exclude='*.safetensors' --exclude='*.gguf' --exclude='*.ticks' out runs 2>/dev/null
ls -la "$OUT"

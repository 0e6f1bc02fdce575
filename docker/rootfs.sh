#!/bin/sh
# The files of the emulator's image, FROM scratch: the stripped binary, the
# shared libraries ldd finds for it and for nft (the task endpoint's
# redirect, which the emulator copies into each task's infrastructure
# image), nft itself, an empty /tmp and /data, and the list of those
# libraries (there is no ldd in the image to find them again).
# Used by `make image` (scripts/build-image.sh) and by docker/Dockerfile.
#   docker/rootfs.sh BINARY OUT_DIR
set -eu
bin=$1 out=$2
mkdir -p "$out/usr/local/bin" "$out/usr/lib/fargate-local" "$out/tmp" "$out/data"
chmod 1777 "$out/tmp"
strip -o "$out/usr/local/bin/fargate-local" "$bin"
nft=""
for p in /usr/sbin/nft /sbin/nft /usr/bin/nft; do
  if [ -x "$p" ]; then nft=$p; break; fi
done
if [ -n "$nft" ]; then
  mkdir -p "$out/usr/sbin"
  cp -L "$nft" "$out/usr/sbin/nft"
else
  echo "rootfs.sh: no nft on this machine: tasks of the image's emulator get no task endpoint (apt-get install nftables)" >&2
fi
list="$out/usr/lib/fargate-local/libs"
: >"$list"
for lib in $( { ldd "$bin"; [ -z "$nft" ] || ldd "$nft"; } | grep -o '/[^ ]*' | sort -u); do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
  echo "$lib" >>"$list"
done

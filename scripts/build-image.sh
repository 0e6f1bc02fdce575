#!/usr/bin/env bash
# `make image`: fargate-local:<version> and fargate-local:dev, FROM scratch,
# offline: the release binary stripped, with the shared libraries it needs
# (docker/rootfs.sh), under docker/Dockerfile's last stage, so the image is
# the one a machine with a registry builds from docker/Dockerfile.
# IMAGE_PROFILE=dev builds from the debug binary instead (larger; quicker
# to rebuild while working on the image).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${IMAGE_PROFILE:-release}
# The release build as `make bench` makes it; the debug one as `make build`
# does (a debug `-p fargate-local` would build the dependencies again with
# other features).
case $profile in
  release) dir=release; ${CARGO:-cargo} build -q --release --workspace --bins ;;
  dev) dir=debug; ${CARGO:-cargo} build -q --workspace ;;
  *) echo "build-image: IMAGE_PROFILE is release or dev, not $profile" >&2; exit 2 ;;
esac
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
docker/rootfs.sh "target/$dir/fargate-local" "$ctx/rootfs"
sed -n '/^FROM scratch/,$p' docker/Dockerfile \
  | sed 's|^COPY --from=build /rootfs /$|COPY rootfs/ /|' >"$ctx/Dockerfile"
grep -q '^COPY rootfs/ /$' "$ctx/Dockerfile" || {
  echo "build-image: docker/Dockerfile's last stage no longer copies /rootfs from the build stage" >&2
  exit 1
}
old=$(docker image inspect -f '{{.Id}}' fargate-local:dev 2>/dev/null || true)
if ! out=$(docker build -q -t "fargate-local:$version" -t fargate-local:dev "$ctx" 2>&1); then
  echo "$out" >&2
  echo "build-image: docker build failed" >&2
  exit 1
fi
new=$(docker image inspect -f '{{.Id}}' fargate-local:dev)
# The image this one replaces, unless something still uses or names it.
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  docker rmi "$old" >/dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{.Size}}' fargate-local:dev)
echo "image: fargate-local:$version and fargate-local:dev ($((size / 1000000)) MB, $profile build)"

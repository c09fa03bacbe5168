#!/usr/bin/env bash
# Key files for the rotation and permission tests, beside the scratch cluster's own key file:
# rotated.keys (new k2 first, then the cluster's k1), new-only.keys (k2 alone), and a
# group-readable.keys that the extension must refuse.
set -euo pipefail
dir=$1
k1=$(cat "$dir/easycars.keys")
k2="k2:$(head -c 32 /dev/urandom | base64)"
(umask 077; printf '%s\n%s\n' "$k2" "$k1" >"$dir/rotated.keys"; printf '%s\n' "$k2" >"$dir/new-only.keys")
printf '%s\n' "$k1" >"$dir/group-readable.keys"
chmod 644 "$dir/group-readable.keys"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir/rotated.keys" "$dir/new-only.keys" "$dir/group-readable.keys"; fi

#!/usr/bin/env bash
# Makes a fresh SoftHSM2 token in its own directory, for one test (or one
# test run, or a manual try):
#
#   scripts/softhsm-token.sh DIR [LABEL]
#
# writes DIR/softhsm2.conf (its own tokendir DIR/tokens), DIR/user.pin and
# DIR/so.pin (mode 0600), initialises a token labelled LABEL (default
# "airlock") in a free slot, and prints what airlock needs to use it:
#
#   export SOFTHSM2_CONF=DIR/softhsm2.conf
#   # token URI: pkcs11:token=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:DIR/user.pin
#
# (AIRLOCK_PKCS11_MODULE, read by this script and the tests only, names
# another module than SoftHSM2's default path.)
#
# SoftHSM reads SOFTHSM2_CONF once, at C_Initialize: every process that
# uses the token must have it in its environment from the start.
# The PINs are test PINs; a real token's PIN is never on a command line.
set -euo pipefail
dir=${1:?usage: softhsm-token.sh DIR [LABEL]}
label=${2:-airlock}
module=${AIRLOCK_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
command -v softhsm2-util >/dev/null || { echo "error: softhsm2-util not found (apt-get install softhsm2)" >&2; exit 3; }
[ -e "$module" ] || { echo "error: SoftHSM2 module $module not found" >&2; exit 3; }
mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
umask 077
cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
# Random test PINs, so that no two runs share one.
user_pin=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
so_pin=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$user_pin" >"$dir/user.pin"
printf '%s\n' "$so_pin" >"$dir/so.pin"
SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label "$label" \
  --pin "$user_pin" --so-pin "$so_pin" >/dev/null
# What airlock needs: SoftHSM2's configuration in the environment, and the
# token named by a URI (add ;object=NAME for a key on it).
echo "export SOFTHSM2_CONF=$dir/softhsm2.conf"
echo "# token URI: pkcs11:token=$label?module-path=$module&pin-source=file:$dir/user.pin"

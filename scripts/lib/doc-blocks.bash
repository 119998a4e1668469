# Generated blocks in markdown files, so that no table there is ever edited by hand. A block sits
# between markers:
#
#   <!-- docs-tables:NAME -->
#   ...generated...
#   <!-- /docs-tables -->
#
#   source scripts/lib/doc-blocks.bash
#   doc_block_replace docs/fuzzing.md fuzz-table generated.md            # rewrite it
#   doc_block_replace README.md city-readme generated.md --check         # or: exit 1 showing the diff if stale

doc_block_replace() {
  local file=$1 name=$2 generated=$3 mode=${4:-} out
  grep -q "<!-- docs-tables:$name -->" "$file" ||
    { echo "$file has no <!-- docs-tables:$name --> marker" >&2; return 2; }
  out=$(mktemp)
  awk -v name="$name" -v gen="$generated" '
    $0 == "<!-- docs-tables:" name " -->" { print; while ((getline l < gen) > 0) print l; skip = 1; next }
    skip && $0 == "<!-- /docs-tables -->" { skip = 0 }
    !skip { print }' "$file" > "$out"
  if [[ $mode == --check ]]; then
    if ! diff -u "$file" "$out"; then
      rm -f "$out"
      echo "the $name table in $file is stale: run make docs-tables" >&2
      return 1
    fi
  else
    cat "$out" > "$file"
  fi
  rm -f "$out"
}

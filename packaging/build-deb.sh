#!/usr/bin/env bash
# Builds the Debian package of ativo-backup with cargo-deb:
#
#   packaging/build-deb.sh [CARGO-DEB OPTIONS]     -> target/debian/ativo-backup_<version>-1_<arch>.deb
#
# 1. builds the binary with the `dist` profile (fat LTO, one codegen unit);
# 2. generates the man page and the bash, zsh and fish completions from that very binary (they
#    are never committed, so they cannot drift from what the package ships);
# 3. packages it with cargo-deb ([package.metadata.deb] in Cargo.toml), stripped.
# Needs cargo-deb (`cargo install cargo-deb --locked --version 3.8.0`). The package's other files
# are in packaging/debian/. Environment: CARGO_TARGET_DIR (as cargo).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null \
  || { echo "packaging/build-deb.sh: cargo-deb is missing; install it with: cargo install cargo-deb --locked --version 3.8.0" >&2; exit 2; }

target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target" ] || { echo "packaging/build-deb.sh: cannot find cargo's target directory" >&2; exit 2; }

cargo build --profile dist --locked --bin ativo-backup

# Where [package.metadata.deb] takes the generated files from: cargo-deb reads its
# `target/release/` prefix as the target directory of the profile it packages (here dist).
bin=$target/dist/ativo-backup
generated=$target/dist/package
rm -rf "$generated"
mkdir -p "$generated"
# The main page and one per command (ativo-backup-import.1, ...), which the main page names.
mkdir -p "$generated/man"
"$bin" man --dir "$generated/man"
gzip -9n "$generated"/man/*.1   # Debian policy: man pages gzip -9n
"$bin" completions bash >"$generated/ativo-backup.bash"
"$bin" completions zsh >"$generated/_ativo-backup"
"$bin" completions fish >"$generated/ativo-backup.fish"

cargo deb --profile dist --no-build --locked --strip "$@"

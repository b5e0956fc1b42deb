#!/usr/bin/env bash
# The package's CI step: builds the Debian package, installs it on this machine with dpkg, checks
# what an admin gets, runs the service's command as its user, purges the package and checks
# that nothing is left but the archives. Run as root on Debian or Ubuntu: it installs missing
# tools (apt-get, cargo install), installs and purges the package, and finally removes what its
# own checks made (its archive, the backup directory when empty, the system user unless it was
# there before) so that the next run starts from the same machine.
#
#   packaging/check-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

CARGO_DEB_VERSION=3.8.0
PKG=ativo-backup
BACKUP_DIR=/var/backups/ativo-backup
USER_NAME=_ativo-backup

say() { printf -- '--- %s\n' "$*"; }
fail() { echo "packaging/check-deb.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "run as root: it installs and purges the package"

say "tools: dpkg, systemd-analyze, man, the three shells and bash-completion"
need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v man >/dev/null || need+=(man-db)
command -v adduser >/dev/null || need+=(adduser)
command -v file >/dev/null || need+=(file)
command -v envsubst >/dev/null || need+=(gettext-base)
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$(cargo deb --version 2>/dev/null | awk '{print $NF}')" != "$CARGO_DEB_VERSION" ]; then
  t=$SECONDS
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
  say "cargo-deb $CARGO_DEB_VERSION installed in $((SECONDS - t)) s"
fi

say "build (dist profile, generated man page and completions, stripped)"
t=$SECONDS
# cargo-deb prints the package's path last.
deb=$(packaging/build-deb.sh | tail -n 1)
say "built in $((SECONDS - t)) s"
[ -f "$deb" ] || fail "no package at '$deb'"
ls -l "$deb"
dpkg-deb --contents "$deb"

say "install"
dpkg --purge "$PKG" >/dev/null 2>&1 || true   # a previous run that stopped half-way
# What was here before, so that the end removes only this run's traces.
user_existed=no; id "$USER_NAME" >/dev/null 2>&1 && user_existed=yes
ci_archives() { { find "$BACKUP_DIR" -maxdepth 1 -name 'ativo-jira.ci.example.com-*.json.zst' 2>/dev/null || true; } | sort; }
archives_before=$(ci_archives)
dpkg -i "$deb"
files=$(dpkg -L "$PKG")

say "the binary: version, commit, formats; the demo"
# By its path: an ativo-backup installed by cargo (~/.cargo/bin) may come first on PATH.
bin=/usr/bin/ativo-backup
"$bin" --version | tee /tmp/ativo-version.txt
grep -qx "commit: $(git rev-parse HEAD)" /tmp/ativo-version.txt || fail "--version does not name HEAD's commit"
grep -q '^archive format: writes version [0-9]' /tmp/ativo-version.txt || fail "--version does not name the format versions"
file -L "$bin" | grep -q ', stripped' || fail "$bin is not stripped: $(file -L "$bin")"
demo=$(mktemp -d)
"$bin" demo --dir "$demo" >/dev/null
rm -rf "$demo"

say "the man page"
[ "$(man -w ativo-backup)" = /usr/share/man/man1/ativo-backup.1.gz ] || fail "man -w ativo-backup: $(man -w ativo-backup 2>&1)"
man ativo-backup 2>/dev/null | grep -q 'ativo-backup' || fail "man ativo-backup shows nothing"
# The page of each command, which the main page names: import documents --only.
[ "$(man -w ativo-backup-import)" = /usr/share/man/man1/ativo-backup-import.1.gz ] || fail "man -w ativo-backup-import: $(man -w ativo-backup-import 2>&1)"
man ativo-backup-import 2>/dev/null | grep -q -- '--only' || fail "man ativo-backup-import does not document --only"

say "the completions, loaded by each shell from where it looks"
bash -c '. /usr/share/bash-completion/bash_completion && __load_completion ativo-backup && complete -p ativo-backup' \
  || fail "bash does not load a completion for ativo-backup"
zsh -fc 'autoload -U compinit && compinit -u -d /tmp/ativo-zcompdump && [[ $_comps[ativo-backup] == _ativo-backup ]]' \
  || fail "zsh does not find _ativo-backup on its fpath"
rm -f /tmp/ativo-zcompdump
fish -c 'complete -C "ativo-backup " | string match -q "validate*"' || fail "fish does not complete ativo-backup's commands"

say "the systemd units"
systemd-analyze verify /usr/lib/systemd/system/ativo-backup.service /usr/lib/systemd/system/ativo-backup.timer
[ ! -e /etc/systemd/system/timers.target.wants/ativo-backup.timer ] || fail "the package enabled the timer"
id "$USER_NAME"
[ "$(stat -c '%U:%G %a' "$BACKUP_DIR")" = "$USER_NAME:$USER_NAME 750" ] || fail "$BACKUP_DIR: $(stat -c '%U:%G %a' "$BACKUP_DIR")"
[ "$(stat -c '%U %a' /etc/default/ativo-backup)" = "root 600" ] || fail "/etc/default/ativo-backup: $(stat -c '%U %a' /etc/default/ativo-backup)"
dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q '^ /etc/default/ativo-backup ' || fail "/etc/default/ativo-backup is not a conffile"

say "the service's command, as its user, with /etc/default/ativo-backup and a SQLite store"
store_dir=$(mktemp -d)
chown "$USER_NAME:" "$store_dir"
runuser -u "$USER_NAME" -- "$bin" --store "$store_dir/ativo.db" --quiet init --server-id CI-PACKAGE \
  --base-url https://jira.ci.example.com --sample demo
exec_start=$(sed -n 's/^ExecStart=//p' /usr/lib/systemd/system/ativo-backup.service)
(
  set -a
  # shellcheck disable=SC1091
  . /etc/default/ativo-backup
  ATIVO_STORE=$store_dir/ativo.db
  # shellcheck disable=SC2086 # the unit's command line, split into words as systemd does
  runuser -u "$USER_NAME" --preserve-environment -- $(echo "$exec_start" | envsubst)
)
new_archive=$(comm -13 <(echo "$archives_before") <(ci_archives))
[ "$(echo "$new_archive" | grep -c .)" = 1 ] || fail "expected one new archive in $BACKUP_DIR, found: $new_archive"
rm -rf "$store_dir"

say "purge"
dpkg --purge "$PKG"
status=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || echo not-installed)
[ "$status" = not-installed ] || fail "$PKG is $status after the purge"
left=()
while IFS= read -r path; do
  # Directories the package shares with others (/usr/bin...) stay; its own files must be gone.
  if [ -e "$path" ] && [ ! -d "$path" ]; then left+=("$path"); fi
done <<<"$files"
for path in /etc/default/ativo-backup /usr/share/doc/ativo-backup /usr/lib/systemd/system/ativo-backup.timer \
  /etc/systemd/system/ativo-backup.timer /etc/systemd/system/timers.target.wants/ativo-backup.timer; do
  if [ -e "$path" ] || [ -L "$path" ]; then left+=("$path"); fi
done
# deb-systemd-helper's records of the units (the directories may not exist at all).
left+=($(find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
  -name '*ativo-backup*' 2>/dev/null || true))
[ ${#left[@]} = 0 ] || fail "left after the purge: ${left[*]}"
[ -f "$new_archive" ] || fail "the purge did not keep $new_archive"
id "$USER_NAME" >/dev/null || fail "the purge removed $USER_NAME, which owns the kept archives"
say "purged: only the archive in $BACKUP_DIR and the user $USER_NAME that owns it are left, as intended"

# This run's own traces, so that the next run starts from the same machine.
rm -f "$new_archive"
rmdir "$BACKUP_DIR" 2>/dev/null || true
if [ "$user_existed" = no ]; then
  deluser --system --quiet "$USER_NAME" >/dev/null 2>&1 || true
  delgroup --system --quiet "$USER_NAME" >/dev/null 2>&1 || true
fi

say "package step done in $((SECONDS - started)) s"

#!/usr/bin/env bash
# Check that a Rust toolchain new enough for PyO3 (cargo >= 1.85) is on PATH; say what to do if not.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  cat >&2 <<'MSG'
unipay: the Rust toolchain (cargo >= 1.85) is required to build the engine (calc_ext/) but was not found.
Install it with rustup:  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
then open a new shell (or `source ~/.cargo/env`) and run `make install` again.
MSG
  exit 1
fi
ver=$(cargo --version | awk '{print $2}')
major=${ver%%.*}; rest=${ver#*.}; minor=${rest%%.*}
if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 85 ]; }; then
  echo "unipay: cargo $ver is too old: PyO3 needs >= 1.85. Run: rustup update stable" >&2
  exit 1
fi

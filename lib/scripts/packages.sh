#!/usr/bin/env bash
# Functions for the steps that install packages. Every such step takes one host-wide lock, so two steps of a plan
# that run on one host at once never race for apt's or dnf's.

# Take the host-wide package lock on fd 9; release it with `flock -u 9`.
hakube_take_package_lock() {
  exec 9>/var/lock/hakube-packages.lock
  flock -w 900 9 || { echo "hakube: waited 15 min for another package install on this host" >&2; exit 1; }
}

# apt-get update that gives up on a stalled mirror or proxy after 3 minutes and tries again, 3 attempts (a lab
# host once saw an update hang for good on a truncated answer from its apt proxy).
hakube_apt_update() {
  local attempt
  for attempt in 1 2 3; do
    if timeout 180 apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update; then
      return 0
    elif [ "$attempt" = 3 ]; then
      echo "hakube: apt-get update failed 3 times" >&2
      exit 1
    fi
    echo "hakube: apt-get update failed or stalled (attempt $attempt of 3); trying again" >&2
    sleep 5
  done
}

# hakube_install_packages "APT NAMES" ["DNF NAMES"]: install with apt-get, or with dnf when the host has no apt-get
# and the step names dnf packages. Without Recommends (runc's recommended criu alone drags in python3, a minute and
# a half of a 2-core host), under the package lock, waiting for any other apt/dpkg user.
hakube_install_packages() {
  local apt_names=$1 dnf_names=${2:-}
  hakube_take_package_lock
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    hakube_apt_update
    # shellcheck disable=SC2086 # a list of package names
    apt-get -q -y -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 install --no-install-recommends $apt_names
  elif [ -n "$dnf_names" ] && command -v dnf >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # a list of package names
    dnf install -y $dnf_names
  else
    echo "hakube: no supported package manager (apt-get${dnf_names:+ or dnf}) on this host; install $apt_names first" >&2
    exit 1
  fi
  flock -u 9
}

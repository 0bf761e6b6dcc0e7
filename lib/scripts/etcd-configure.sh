#!/usr/bin/env bash
# Start or restart an etcd member after its files were placed (restart only when they differ from what it runs with).
# A member with an empty data dir is bootstrapping and cannot become ready before a quorum of its peers starts, so
# nothing waits for it; any other member must answer healthy before the step ends — and so before the next member
# is touched. Needs services.sh.
#
# Inputs: data_dir, applied_file (the record of the files it runs with), files (what it runs with), etcdctl,
# endpoint (this member's client URL), tls_args (etcdctl's TLS flags).
bootstrapping=0
if [ -z "$(ls -A "$data_dir")" ]; then
  bootstrapping=1
  echo "hakube: empty data dir, bootstrapping member (the cluster forms once a quorum has started)"
fi
hakube_apply_service --no-block etcd.service restart "$applied_file" "${files[@]}"
if [ "$bootstrapping" = 1 ]; then
  exit 0
fi
for attempt in $(seq 1 60); do
  if ETCDCTL_API=3 "$etcdctl" --endpoints="$endpoint" "${tls_args[@]}" endpoint health >/dev/null 2>&1; then
    echo "hakube: member healthy after $attempt s"
    exit 0
  fi
  sleep 1
done
echo "hakube: member did not become healthy within 60 s" >&2
journalctl -u etcd.service -n 30 --no-pager >&2 || true
exit 1

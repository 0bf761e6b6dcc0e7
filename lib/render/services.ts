import { sh } from '../shell.js';

export interface ServiceApply {
  /** systemd unit, e.g. "haproxy.service". */
  readonly unit: string;
  /** Files the unit runs with: when their combined sha256 differs from what it last ran with, it is restarted or reloaded. */
  readonly files: readonly string[];
  /** Where that sha256 is kept on the host. */
  readonly stateFile: string;
  /** `reload` for services that reload without dropping connections (haproxy, keepalived). */
  readonly action: 'restart' | 'reload';
  /** Do not wait for the unit to become ready (etcd bootstrapping: a member is ready only once a quorum runs). @default false */
  readonly noBlock?: boolean;
}

/**
 * Bash that enables a unit and starts it when it is not running, or restarts/reloads it when its files differ
 * from the ones it last ran with. Comparing with a recorded hash, not with what this run changed, also finishes a
 * run that stopped between placing files and restarting. The hash is recorded only after systemctl succeeded.
 */
export function renderServiceApply(s: ServiceApply): string {
  const noBlock = s.noBlock ? ' --no-block' : '';
  return `wanted=$(sha256sum ${s.files.map(sh).join(' ')} | sha256sum | cut -d' ' -f1)
systemctl enable --quiet ${sh(s.unit)}
if ! systemctl is-active --quiet ${sh(s.unit)}; then
  echo "hakube: starting ${s.unit}"
  systemctl daemon-reload
  systemctl${noBlock} start ${sh(s.unit)}
elif [ "$(cat ${sh(s.stateFile)} 2>/dev/null)" != "$wanted" ]; then
  echo "hakube: configuration changed, ${s.action === 'reload' ? 'reloading' : 'restarting'} ${s.unit}"
  systemctl daemon-reload
  systemctl${noBlock} ${s.action} ${sh(s.unit)}
else
  echo "hakube: ${s.unit} unchanged and running"
fi
echo "$wanted" >${sh(s.stateFile)}`;
}

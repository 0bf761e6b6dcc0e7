import { parseArgs } from 'node:util';
import { LAB_DEFAULT_HOSTS, LAB_MAX_HOSTS } from './config.js';
import { formatStatus, labDown, labPower, labStatus, labUp, type LabPowerAction } from './lab.js';

/** Thrown for bad command-line arguments; the CLI prints usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Usage text of `hakube lab`. */
export const LAB_USAGE = `usage: hakube lab <command>

  up [--hosts N] [--kubernetes]
                              start N lab hosts (default ${LAB_DEFAULT_HOSTS}, at most ${LAB_MAX_HOSTS}) and write .hakube/lab/hosts.yaml;
                              --kubernetes: also serve Kubernetes packages and images on the bridge
                              (builds them from source modules first when not cached: tens of minutes)
  down                        stop the lab and remove everything it created (keeps the base cache)
  status                      show each host: running? answers ssh?
  power <host> off|on|kill    clean stop, boot again, or hard power-off of one host

Needs root. See docs/LAB.md.`;

/** `hakube lab …`: returns the exit code. */
export async function labCommand(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case 'up': {
      const { values } = parse(rest, { hosts: { type: 'string' }, kubernetes: { type: 'boolean' } }, 0);
      const hosts = values.hosts === undefined ? LAB_DEFAULT_HOSTS : Number(values.hosts);
      if (!Number.isInteger(hosts) || hosts < 1 || hosts > LAB_MAX_HOSTS) {
        throw new UsageError(`--hosts ${JSON.stringify(values.hosts)} is not a whole number from 1 to ${LAB_MAX_HOSTS}`);
      }
      const result = await labUp({ hosts, kubernetes: values.kubernetes === true });
      process.stdout.write(formatStatus(result.status));
      return result.status.hosts.every((h) => h.sshReachable) ? 0 : 1;
    }
    case 'down': {
      parse(rest, {}, 0);
      const result = await labDown();
      return result.leftovers.length ? 1 : 0;
    }
    case 'status': {
      parse(rest, {}, 0);
      process.stdout.write(formatStatus(await labStatus()));
      return 0;
    }
    case 'power': {
      const { positionals } = parse(rest, {}, 2);
      const [host, action] = positionals as [string, string];
      if (!['off', 'on', 'kill'].includes(action)) throw new UsageError(`power action ${JSON.stringify(action)} is not off, on or kill`);
      await labPower(host, action as LabPowerAction);
      return 0;
    }
    default:
      throw new UsageError(command === undefined ? 'missing lab command' : `unknown lab command ${JSON.stringify(command)}`);
  }
}

type Options = Record<string, { type: 'string' | 'boolean' }>;

function parse(args: readonly string[], options: Options, positionalCount: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length !== positionalCount) {
    throw new UsageError(`expected ${positionalCount} argument(s), got ${parsed.positionals.length}: ${args.join(' ')}`);
  }
  return parsed;
}

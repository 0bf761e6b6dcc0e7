import { readFileSync } from 'node:fs';

/**
 * Quote one value for bash. The only way hakube puts a value into a host script: every emitted word that is not a
 * literal of the script goes through here, even after validation.
 */
export function sh(value: string | number): string {
  const text = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A value a host script takes: a word, a number, a flag (`1`/`0`) or a bash array. */
export type ScriptInput = string | number | boolean | readonly (string | number)[];

/** Where the host scripts are: `lib/scripts/*.sh`, shipped in the package (copied beside the compiled code too). */
export const HOST_SCRIPTS_DIR = new URL('./scripts/', import.meta.url);

const SCRIPT_NAME = /^[a-z0-9][a-z0-9-]*\.sh$/;
const INPUT_NAME = /^[a-z_][a-z0-9_]*$/;
const loaded = new Map<string, string>();

/**
 * A host script file as it goes into a script: without its `#!` line, its comment lines (shellcheck directives stay)
 * and blank lines. The comments are for readers of the file; a step's script is in the state of every resource and
 * runs on every host (read once).
 */
function scriptFile(name: string): string {
  if (!SCRIPT_NAME.test(name)) throw new Error(`not a host script name: ${JSON.stringify(name)}`);
  let text = loaded.get(name);
  if (text === undefined) {
    const lines = readFileSync(new URL(name, HOST_SCRIPTS_DIR), 'utf8').split('\n');
    text = lines.filter((line) => line.trim() !== '' && !/^\s*#(?! shellcheck )/.test(line)).map((line) => `${line}\n`).join('');
    loaded.set(name, text);
  }
  return text;
}

/**
 * Bash made of host script files (`lib/scripts/<name>`), in order, after their inputs: one generated line per input,
 * `name=value` with the value quoted by {@link sh} (a flag is `1` or `0`, a list a bash array). The files hold every
 * line of fixed bash; the inputs are the only part that is generated. The files' comments stay in the files (see
 * `scriptFile`). Pure (the files are part of the package).
 */
export function hostScript(inputs: Readonly<Record<string, ScriptInput>>, ...files: string[]): string {
  const lines = Object.entries(inputs).map(([name, value]) => {
    if (!INPUT_NAME.test(name)) throw new Error(`not a host script input name: ${JSON.stringify(name)}`);
    if (Array.isArray(value)) return `${name}=(${value.map((v) => sh(v)).join(' ')})`;
    return `${name}=${typeof value === 'boolean' ? (value ? 1 : 0) : sh(value as string | number)}`;
  });
  const head = lines.length ? `# inputs of ${files.join(', ')}\n${lines.join('\n')}\n` : '';
  return head + files.map((file) => `# --- ${file}\n${scriptFile(file)}`).join('');
}

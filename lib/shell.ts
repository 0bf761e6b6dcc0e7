/**
 * Quote one value for bash. The only way hakube puts a value into a host script: every emitted word that is not a
 * literal of the script goes through here, even after validation.
 */
export function sh(value: string | number): string {
  const text = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

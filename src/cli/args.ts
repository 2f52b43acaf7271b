/**
 * Minimal argv parser: `--name value`, `--name=value`, `-x value`, boolean flags, positionals.
 * Unknown options are errors (a typo should not silently change nothing).
 */
import { readFileSync } from 'node:fs';
export interface OptionSpec {
  readonly name: string;
  readonly alias?: string;
  readonly type: 'string' | 'number' | 'boolean';
  readonly description: string;
  readonly default?: string | number | boolean;
}

export interface Parsed {
  readonly positionals: string[];
  readonly values: Record<string, string | number | boolean | undefined>;
}

export class UsageError extends Error {}

/** Contents of the file named by --chat-template, if given. */
export function chatTemplateOpt(values: Parsed['values']): string | undefined {
  const f = values['chat-template'];
  if (typeof f !== 'string') return undefined;
  try {
    return readFileSync(f, 'utf8');
  } catch (e) {
    throw new UsageError(`--chat-template: cannot read ${f}: ${(e as Error).message}`);
  }
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const byName = new Map<string, OptionSpec>();
  for (const s of specs) {
    byName.set(`--${s.name}`, s);
    if (s.alias) byName.set(`-${s.alias}`, s);
  }
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const s of specs) if (s.default !== undefined) values[s.name] = s.default;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const spec = byName.get(flag);
    if (!spec) throw new UsageError(`unknown option ${flag}`);
    if (spec.type === 'boolean') {
      if (eq > 0) throw new UsageError(`option ${flag} takes no value`);
      values[spec.name] = true;
      continue;
    }
    let raw: string | undefined;
    if (eq > 0) raw = a.slice(eq + 1);
    else {
      raw = argv[i + 1];
      i++;
    }
    if (raw === undefined) throw new UsageError(`option ${flag} needs a value`);
    if (spec.type === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`option ${flag} needs a number, got "${raw}"`);
      values[spec.name] = n;
    } else {
      values[spec.name] = raw;
    }
  }
  return { positionals, values };
}

export function helpFor(specs: readonly OptionSpec[]): string {
  return specs
    .map((s) => {
      const flag = `${s.alias ? `-${s.alias}, ` : ''}--${s.name}${s.type === 'boolean' ? '' : ` <${s.type === 'number' ? 'n' : 'value'}>`}`;
      const def = s.default !== undefined && s.type !== 'boolean' ? ` (default ${s.default})` : '';
      return `  ${flag.padEnd(28)} ${s.description}${def}`;
    })
    .join('\n');
}

/** A positive integer option (or undefined). */
export function intOpt(values: Parsed['values'], name: string, min = 1, max = 1 << 30): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}]`);
  return v;
}

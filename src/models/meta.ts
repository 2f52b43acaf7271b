/**
 * Typed access to GGUF metadata for model families: every read names the key and the file in its
 * error, and numbers are checked to be finite and in range before they size anything.
 */
import type { GGUFFile, GGUFValue } from '../formats/gguf.js';

export class MetaReader {
  constructor(readonly file: GGUFFile, readonly arch: string) {}

  private raw(key: string): GGUFValue | undefined {
    return this.file.metadata.get(key);
  }

  private fail(key: string, what: string): never {
    throw new Error(`${this.file.path}: metadata ${key} ${what}`);
  }

  /** `{arch}.suffix` */
  key(suffix: string): string {
    return `${this.arch}.${suffix}`;
  }

  has(key: string): boolean {
    return this.file.metadata.has(key);
  }

  optNumber(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v === 'bigint') {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) this.fail(key, `is out of range (${v})`);
      return Number(v);
    }
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a number, got ${describe(v)}`);
    return v;
  }

  number(key: string, fallback?: number): number {
    const v = this.optNumber(key);
    if (v !== undefined) return v;
    if (fallback !== undefined) return fallback;
    return this.fail(key, 'is missing');
  }

  /** A positive integer not above `max` (sizes, counts). Arrays whose entries are all equal are accepted. */
  int(key: string, fallback?: number, max = 1 << 30): number {
    const raw = this.raw(key);
    let v: number;
    if (Array.isArray(raw)) {
      const vals = raw.map((x) => Number(x));
      if (vals.length === 0 || vals.some((x) => x !== vals[0])) this.fail(key, 'varies per layer, which this model family does not support');
      v = vals[0]!;
    } else {
      v = this.number(key, fallback);
    }
    if (!Number.isInteger(v) || v < 0 || v > max) this.fail(key, `must be an integer in [0, ${max}], got ${v}`);
    return v;
  }

  optString(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(key, `must be a string, got ${describe(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0;
    return this.fail(key, `must be a boolean, got ${describe(v)}`);
  }
}

function describe(v: GGUFValue): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

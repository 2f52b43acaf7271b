/**
 * The one place that maps `general.architecture` to a model family.
 */
import type { GGUFFile } from '../formats/gguf.js';
import { deepseekFamily } from './deepseek.js';
import { deepseek2Family } from './deepseek2.js';
import { llamaFamily } from './llama.js';
import { qwen2Family } from './qwen2.js';
import type { ModelFamily } from './types.js';

const FAMILIES: readonly ModelFamily[] = [llamaFamily, qwen2Family, deepseekFamily, deepseek2Family];

export function supportedArchitectures(): string[] {
  return FAMILIES.flatMap((f) => [...f.architectures]);
}

export function familyFor(arch: string): ModelFamily | undefined {
  return FAMILIES.find((f) => f.architectures.includes(arch));
}

/** The family for a file, or a clear error listing what is supported. */
export function resolveFamily(file: GGUFFile): ModelFamily {
  const arch = file.metadata.get('general.architecture');
  if (typeof arch !== 'string') throw new Error(`${file.path}: general.architecture is missing or not a string`);
  const fam = familyFor(arch);
  if (!fam) throw new Error(`${file.path}: unsupported architecture "${arch}" (supported: ${supportedArchitectures().join(', ')})`);
  return fam;
}

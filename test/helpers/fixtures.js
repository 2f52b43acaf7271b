// Shared test helpers: where fixtures are cached and deterministic token sequences.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Fixture cache (gitignored); generated on first use. */
export function fixtureDir() {
  return process.env.DEEPCARD_FIXTURES ?? path.join(root, '.cache', 'fixtures');
}

export function repoRoot() {
  return root;
}

/** `n` pseudo-random token ids in [0, maxId), reproducible from `seed`. */
export function tokenSequence(n, maxId, seed = 1) {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out.push(s % maxId);
  }
  return out;
}

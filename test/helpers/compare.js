// Comparing deepcard's logits with llama.cpp's top-k lists (see llama-ref.js for why relative).

/** Natural-log softmax normalizer of one row (f64). */
export function logSumExp(row) {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - max);
  return max + Math.log(s);
}

/**
 * Largest difference between two sets of per-position log-probabilities over `ref`'s top ids,
 * both taken relative to the same token (ref's most likely one), so normalizers cancel.
 * `other` is either deepcard's logits (Float32Array, V per row) or another llama.cpp list.
 */
export function relDiff(ref, other, V) {
  let max = 0;
  let where = null;
  const perPos = [];
  for (let p = 0; p < ref.length; p++) {
    let pm = 0;
    const base = ref[p][0][0];
    let get;
    if (other instanceof Float32Array) {
      const row = other.subarray(p * V, (p + 1) * V);
      get = (id) => row[id] - row[base];
    } else {
      const m = new Map(other[p]);
      if (!m.has(base)) continue; // top token differs: nothing comparable at this position
      get = (id) => (m.has(id) ? m.get(id) - m.get(base) : undefined);
    }
    for (const [id, rel] of ref[p]) {
      const o = get(id);
      if (o === undefined) continue;
      const d = Math.abs(o - rel);
      pm = Math.max(pm, d);
      if (d > max) {
        max = d;
        where = { pos: p, id, ours: o, ref: rel };
      }
    }
    perPos.push(pm);
  }
  perPos.sort((a, b) => a - b);
  return { max, where, median: perPos[perPos.length >> 1] ?? 0 };
}

/** Absolute log-probability of llama.cpp's top token vs deepcard's for the same token. */
export function absDiff(abs, ours, V) {
  let max = 0;
  for (let p = 0; p < abs.length; p++) {
    const row = ours.subarray(p * V, (p + 1) * V);
    const [id, lp] = abs[p];
    max = Math.max(max, Math.abs(row[id] - logSumExp(row) - lp));
  }
  return max;
}

/** Positions where deepcard's argmax differs from llama.cpp's clear (margin > 0.02) top token. */
export function top1Mismatches(ref, ours, V) {
  let n = 0;
  for (let p = 0; p < ref.length; p++) {
    const row = ours.subarray(p * V, (p + 1) * V);
    let arg = 0;
    for (let i = 1; i < V; i++) if (row[i] > row[arg]) arg = i;
    const margin = ref[p][1] ? -ref[p][1][1] : Infinity;
    if (arg !== ref[p][0][0] && margin > 0.02) n++;
  }
  return n;
}

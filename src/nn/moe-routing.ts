/**
 * DeepSeekMoE expert selection (deepseek-reference.md 5.2, 5.3, 5.5), one token at a time:
 *
 *   s        = softmax(logits) | sigmoid(logits)          router scores, f64
 *   sel      = s + bias                                   bias (V3 e_score_correction_bias) only
 *                                                         steers the choice, never the weights
 *   groups   : keep the best `topKGroups` of `nGroups` groups, scored by the group's max (V2,
 *              DeepSeek's reference) or the sum of its top-2 selection scores (V3, and llama.cpp
 *              for every model); experts of other groups are masked with -inf (not 0, which is
 *              only equivalent while all kept scores are positive)
 *   ids      = top-k of the masked selection scores (ties: lower expert id first)
 *   w        = s[ids] (unbiased); if normTopK: w /= max(sum(w), 6.1e-5) (llama.cpp's guard; HF adds
 *              1e-20 instead, indistinguishable for real scores); w *= scale (routed_scaling_factor)
 */

export interface RouterConfig {
  readonly nExperts: number;
  /** Experts per token (num_experts_per_tok). */
  readonly topK: number;
  readonly gating: 'softmax' | 'sigmoid';
  /** n_group / topk_group; 1 / 1 means no group limit. */
  readonly nGroups: number;
  readonly topKGroups: number;
  readonly groupScore: 'max' | 'top2sum';
  readonly normTopK: boolean;
  /** routed_scaling_factor (1 = none). */
  readonly scale: number;
}

export interface Routing {
  /** Chosen experts, best first. */
  readonly ids: Int32Array;
  /** Their weights (already normalized and scaled). */
  readonly weights: Float32Array;
}

export function validateRouter(cfg: RouterConfig): void {
  const { nExperts: E, topK, nGroups, topKGroups } = cfg;
  const bad = (m: string): never => {
    throw new Error(`invalid MoE router: ${m}`);
  };
  if (!Number.isInteger(E) || E < 1) bad(`expert count ${E}`);
  if (!Number.isInteger(topK) || topK < 1 || topK > E) bad(`experts per token ${topK} (of ${E})`);
  if (!Number.isInteger(nGroups) || nGroups < 1 || E % nGroups !== 0) bad(`${E} experts do not split into ${nGroups} groups`);
  if (!Number.isInteger(topKGroups) || topKGroups < 1 || topKGroups > nGroups) bad(`group limit ${topKGroups} of ${nGroups} groups`);
  if ((topKGroups * E) / nGroups < topK) bad(`${topKGroups} groups of ${E / nGroups} experts cannot hold ${topK} experts`);
  if (!(cfg.scale > 0) || !Number.isFinite(cfg.scale)) bad(`scaling factor ${cfg.scale}`);
}

/** Indices of the k largest values (ties: lower index first). */
function topIndices(v: Float64Array, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < v.length; i++) {
    if (v[i] === -Infinity) continue;
    let j = idx.length;
    if (j === k && !(v[i]! > v[idx[k - 1]!]!)) continue;
    if (j === k) idx.pop();
    j = idx.length;
    while (j > 0 && v[i]! > v[idx[j - 1]!]!) j--;
    idx.splice(j, 0, i);
  }
  return idx;
}

/** Route one token. `logits` holds the router outputs for it; `bias` is the selection bias or null. */
export function routeToken(logits: ArrayLike<number>, bias: ArrayLike<number> | null, cfg: RouterConfig): Routing {
  const E = cfg.nExperts;
  const s = new Float64Array(E);
  if (cfg.gating === 'softmax') {
    let max = -Infinity;
    for (let i = 0; i < E; i++) max = Math.max(max, logits[i]!);
    let sum = 0;
    for (let i = 0; i < E; i++) sum += s[i] = Math.exp(logits[i]! - max);
    for (let i = 0; i < E; i++) s[i]! /= sum;
  } else {
    for (let i = 0; i < E; i++) s[i] = 1 / (1 + Math.exp(-logits[i]!));
  }
  const sel = new Float64Array(E);
  for (let i = 0; i < E; i++) sel[i] = bias ? s[i]! + bias[i]! : s[i]!;

  if (cfg.nGroups > 1 && cfg.topKGroups < cfg.nGroups) {
    const per = E / cfg.nGroups;
    const gscore = new Float64Array(cfg.nGroups);
    for (let g = 0; g < cfg.nGroups; g++) {
      let a = -Infinity;
      let b = -Infinity; // best and second best in the group
      for (let i = g * per; i < (g + 1) * per; i++) {
        const v = sel[i]!;
        if (v > a) {
          b = a;
          a = v;
        } else if (v > b) b = v;
      }
      gscore[g] = cfg.groupScore === 'max' ? a : a + (per > 1 ? b : 0);
    }
    const keep = new Set(topIndices(gscore, cfg.topKGroups));
    for (let g = 0; g < cfg.nGroups; g++) {
      if (keep.has(g)) continue;
      for (let i = g * per; i < (g + 1) * per; i++) sel[i] = -Infinity;
    }
  }
  const ids = topIndices(sel, cfg.topK);
  const w = ids.map((i) => s[i]!);
  if (cfg.normTopK) {
    const sum = w.reduce((a, b) => a + b, 0);
    const d = Math.max(sum, 6.103515625e-5);
    for (let i = 0; i < w.length; i++) w[i]! /= d;
  }
  return { ids: Int32Array.from(ids), weights: Float32Array.from(w, (x) => x * cfg.scale) };
}

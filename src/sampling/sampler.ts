/**
 * Token sampler: raw logits [V] + history -> next token id.
 *
 * Chain (llama.cpp common/sampling.cpp default order `penalties;dry;top_k;typ_p;top_p;min_p;xtc;
 * temperature` preceded by logit bias; dry/typ_p/xtc are not implemented, they are off by default):
 *
 *   1. logit bias            logit[id] += bias (-Infinity bans)
 *   2. penalties             repetition (multiplicative) then frequency/presence (additive),
 *                            over the last `penaltyLastN` history ids
 *   3. greedy                if temperature <= 0: argmax, ties -> lowest id; no RNG draw
 *   4. top-k                 keep the k best (ties -> lower id)
 *   5. softmax               p_i = exp(l_i - max) / Z over the top-k set, BEFORE temperature
 *   6. top-p                 keep the smallest best-first prefix with cumulative p >= top_p
 *   7. min-p                 keep l_i >= max + ln(min_p), i.e. p_i >= min_p * p_max, computed on
 *                            the pre-temperature distribution as llama.cpp does
 *   8. temperature           l_i / T over the survivors, softmax, one uniform draw
 *
 * Implementation notes: top-p and min-p both keep a best-first prefix, so their intersection does
 * not depend on their order; min-p runs first as a cheap O(n) filter and top-p keeps its target
 * mass top_p * Z with Z from step 5, which gives llama.cpp's set (up to float rounding exactly at
 * a boundary). Selections use a bucket grid over the vocabulary, then an exact bucket refinement
 * of the few gathered candidates (filters.ts, keepTopPrefix): O(V) per token, never a full sort.
 * With top-p on, tokens more than 48 nats below the max count as probability 0 (< 3e-14 of the
 * mass in total). Weights use expNeg (relative error < 1e-13 against Math.exp).
 * `distribution()` exposes the final distribution (sorted) for tests and debugging.
 *
 * Masking: ids >= vocabSize (padded embedding rows) are never looked at; NaN logits count as
 * -Infinity; +Infinity (an overflowed model output) is clamped to the largest float32 so the
 * arithmetic stays finite. Tokens at -Infinity are never chosen, even at high temperature.
 * The caller's logits array is never modified (`logprobs` is called after `sample` on it).
 */
import { Rng } from './rng.js';
import { applyPenaltiesInPlace, biasEntries, Candidates, expNeg, keepTopPrefix } from './filters.js';

export { applyPenalties, applyLogitBias, applyPenaltiesInPlace, applyLogitBiasInPlace } from './filters.js';

export interface SamplingParams {
  /** Default 0.6 (DeepSeek's advice for R1-style models); 0 => greedy (argmax). */
  temperature?: number;
  /** Default 0 = disabled. */
  topK?: number;
  /** Default 0.95; 1 = disabled. */
  topP?: number;
  /** Default 0 = disabled; relative to the top probability (llama.cpp). */
  minP?: number;
  /** Default 1 = off; logit > 0 ? logit / p : logit * p for ids in the penalty window. */
  repetitionPenalty?: number;
  /** Default 0; OpenAI: logit -= presence * (count > 0). */
  presencePenalty?: number;
  /** Default 0; OpenAI: logit -= frequency * count. */
  frequencyPenalty?: number;
  /** History ids the penalties look at: default 64; 0 = none; -1 = whole history. */
  penaltyLastN?: number;
  /** Added to logits; -Infinity bans a token. */
  logitBias?: Record<number, number> | Map<number, number>;
  /** Default: random (the chosen seed is reported in `Sampler.params.seed`). */
  seed?: number;
}

export type ResolvedSamplingParams = Required<Omit<SamplingParams, 'logitBias'>> & { logitBias: Map<number, number> };

export const SAMPLING_DEFAULTS = Object.freeze({
  temperature: 0.6,
  topK: 0,
  topP: 0.95,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  penaltyLastN: 64,
});

const F32_MAX = 3.4028234663852886e38;
/** Upper bound on the vocabulary size we allocate scratch for (DeepSeek: ~129k-152k). */
const MAX_VOCAB = 1 << 24;
/** First-pass selection grid: buckets over the top GRID_RANGE nats below the max logit. */
const GRID = 1024;
const GRID_RANGE = 48;

/** First bucket (best first) where the cumulative weight reaches `target`; last bucket if none. */
function findBoundary(grid: Float64Array, target: number): number {
  let cum = 0;
  for (let b = 0; b < grid.length; b++) {
    cum += grid[b];
    // One bucket of slack: the exact refinement sums in a different order.
    if (cum >= target) return Math.min(b + 1, grid.length - 1);
  }
  return grid.length - 1;
}

function bad(name: string, value: unknown, rule: string): Error {
  return new Error(`invalid sampling parameter ${name}: ${String(value)} (${rule})`);
}

function pick(v: number | undefined | null, def: number): number {
  return v === undefined || v === null ? def : v;
}

/** Fill defaults and validate; throws `invalid sampling parameter <name>: <value> (<rule>)`. */
export function resolveSamplingParams(p: SamplingParams, vocabSize: number): ResolvedSamplingParams {
  if (p === null || typeof p !== 'object') throw new Error('invalid sampling parameters: expected an object');
  const num = (v: unknown) => typeof v === 'number' && !Number.isNaN(v);
  const temperature = pick(p.temperature, SAMPLING_DEFAULTS.temperature);
  if (!num(temperature) || !Number.isFinite(temperature) || temperature < 0) throw bad('temperature', temperature, 'must be a finite number >= 0');
  const topK = pick(p.topK, SAMPLING_DEFAULTS.topK);
  if (!Number.isSafeInteger(topK) || topK < 0) throw bad('top_k', topK, 'must be an integer >= 0');
  const topP = pick(p.topP, SAMPLING_DEFAULTS.topP);
  if (!num(topP) || !(topP > 0 && topP <= 1)) throw bad('top_p', topP, 'must be in (0, 1]');
  const minP = pick(p.minP, SAMPLING_DEFAULTS.minP);
  if (!num(minP) || !(minP >= 0 && minP <= 1)) throw bad('min_p', minP, 'must be in [0, 1]');
  const repetitionPenalty = pick(p.repetitionPenalty, SAMPLING_DEFAULTS.repetitionPenalty);
  if (!num(repetitionPenalty) || !Number.isFinite(repetitionPenalty) || repetitionPenalty <= 0) {
    throw bad('repetition_penalty', repetitionPenalty, 'must be a finite number > 0');
  }
  const presencePenalty = pick(p.presencePenalty, SAMPLING_DEFAULTS.presencePenalty);
  if (!num(presencePenalty) || !Number.isFinite(presencePenalty)) throw bad('presence_penalty', presencePenalty, 'must be a finite number');
  const frequencyPenalty = pick(p.frequencyPenalty, SAMPLING_DEFAULTS.frequencyPenalty);
  if (!num(frequencyPenalty) || !Number.isFinite(frequencyPenalty)) throw bad('frequency_penalty', frequencyPenalty, 'must be a finite number');
  const penaltyLastN = pick(p.penaltyLastN, SAMPLING_DEFAULTS.penaltyLastN);
  if (!Number.isSafeInteger(penaltyLastN) || penaltyLastN < -1) throw bad('penalty_last_n', penaltyLastN, 'must be an integer >= -1');
  const seed = pick(p.seed, Math.floor(Math.random() * 4294967296));
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw bad('seed', seed, 'must be an integer');

  const logitBias = new Map<number, number>();
  const raw = p.logitBias;
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('logit_bias', raw, 'must be a map of token id -> bias');
    for (const [id, b] of biasEntries(raw)) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw bad('logit_bias', id, `token id must be an integer in [0, ${vocabSize})`);
      if (!num(b) || b === Infinity) throw bad('logit_bias', b, `bias for token ${id} must be a finite number or -Infinity`);
      logitBias.set(id, b);
    }
  }
  return { temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, penaltyLastN, logitBias, seed };
}

export class Sampler {
  readonly params: Readonly<ResolvedSamplingParams>;
  readonly vocabSize: number;
  private readonly rng: Rng;
  private readonly bias: Array<[number, number]>;
  /** Scratch copy of the logits [V], transformed in place. */
  private readonly work: Float32Array;
  private counts: Uint32Array | null = null;
  private cand: Candidates | null = null;
  /** Pre-temperature weights exp(l - max) [V], top-p path only. */
  private wfull: Float64Array | null = null;
  private readonly grid = new Float64Array(GRID);
  // Results of scan(): argmax (lowest id on ties), max, smallest finite logit, finite count.
  private best = -1;
  private max = -Infinity;
  private min = Infinity;
  private finite = 0;
  private gridR = 0;
  private gridS = 0;

  constructor(params: SamplingParams, opts: { vocabSize: number }) {
    const V = opts?.vocabSize;
    if (!Number.isSafeInteger(V) || V <= 0 || V > MAX_VOCAB) throw new Error(`Sampler: vocabSize must be an integer in [1, ${MAX_VOCAB}], got ${String(V)}`);
    this.vocabSize = V;
    this.params = Object.freeze(resolveSamplingParams(params ?? {}, V));
    this.rng = new Rng(this.params.seed);
    this.bias = [...this.params.logitBias.entries()];
    this.work = new Float32Array(V);
  }

  /** Choose the next token. `history` = prompt + generated ids (for penalties). */
  sample(logits: Float32Array, history: readonly number[]): number {
    const n = this.prepare(logits, history, 'sample');
    if (n < 0) return this.best; // greedy: no RNG draw
    const { ids, ws } = this.cand!;
    let W = 0;
    for (let i = 0; i < n; i++) W += ws[i];
    let r = this.rng.next() * W;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const w = ws[i];
      if (w > 0) {
        last = i;
        r -= w;
        if (r < 0) return ids[i];
      }
    }
    // Rounding left r >= 0 after the walk: take the last token with positive weight.
    return last >= 0 ? ids[last] : this.best;
  }

  /**
   * The distribution `sample` draws from (after every filter and the temperature), best first,
   * ties by lower id; probabilities sum to 1. Greedy gives the argmax with probability 1.
   * For tests and debugging: it sorts the survivors, which `sample` never does.
   */
  distribution(logits: Float32Array, history: readonly number[]): { ids: number[]; probs: number[] } {
    const n = this.prepare(logits, history, 'distribution');
    if (n < 0) return { ids: [this.best], probs: [1] };
    const c = this.cand!;
    c.sortRange(0, n);
    let W = 0;
    for (let i = 0; i < n; i++) W += c.ws[i];
    return { ids: Array.from(c.ids.subarray(0, n)), probs: Array.from(c.ws.subarray(0, n), (w) => w / W) };
  }

  /**
   * Run the chain up to the draw: candidates [0, n) of `this.cand` with weights exp((l - max) / T)
   * in `ws`. Returns -1 for greedy (result in this.best).
   */
  private prepare(logits: Float32Array, history: readonly number[], what: string): number {
    this.load(logits, what);
    const V = this.vocabSize;
    const p = this.params;
    const work = this.work;
    const bias = this.bias;
    for (let j = 0; j < bias.length; j++) work[bias[j][0]] += bias[j][1];
    if (p.penaltyLastN !== 0 && (p.repetitionPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0)) {
      applyPenaltiesInPlace(work, V, history, p, (this.counts ??= new Uint32Array(V)));
    }
    this.scan();
    const M = this.max;
    if (this.best < 0) throw new Error(`Sampler: no token can be sampled (all ${V} logits are -Infinity/NaN or banned by logit_bias)`);
    if (p.temperature <= 0) return -1;

    const c = this.candidates();
    const { vals, ws } = c;
    // min-p (llama.cpp: keep logit >= max_logit + logf(min_p), float32 arithmetic).
    const thrMin = p.minP > 0 ? Math.fround(M + Math.fround(Math.log(p.minP))) : -Infinity;
    const useTopK = p.topK > 0 && p.topK < this.finite;
    const useTopP = p.topP < 1;
    let n: number;
    let Z = 0;
    if (useTopK) {
      n = this.gatherTopK(p.topK);
      for (let i = 0; i < n; i++) Z += ws[i] = expNeg(vals[i] - M);
      if (thrMin > -Infinity) {
        let k = 0;
        for (let i = 0; i < n; i++) {
          if (vals[i] >= thrMin) {
            if (k !== i) c.swap(k, i);
            k++;
          }
        }
        n = c.n = k;
      }
    } else if (useTopP) {
      // One pass: softmax normaliser Z over all candidates and the mass per grid bucket.
      const R = this.gridR;
      const S = this.gridS;
      const grid = this.grid;
      const wfull = (this.wfull ??= new Float64Array(V));
      grid.fill(0);
      for (let i = 0; i < V; i++) {
        const d = M - work[i];
        // Below max - 48 a weight is < 1.5e-21: with V < 2^24 the total stays < 3e-14 of Z.
        if (!(d < GRID_RANGE)) {
          wfull[i] = 0;
          continue;
        }
        const w = (wfull[i] = expNeg(-d));
        Z += w;
        grid[d >= R ? GRID - 1 : Math.min(GRID - 1, (d * S) | 0)] += w;
      }
      n = this.gather(R > 0 ? findBoundary(grid, p.topP * Z) : GRID - 1, thrMin, wfull);
    } else {
      n = this.gather(GRID - 1, thrMin);
    }
    // top-p over the softmax of the top-k set (Z), before temperature. min-p already ran; both
    // keep a best-first prefix, so the order of the two does not change the result.
    if (useTopP) n = c.n = keepTopPrefix(c, p.topP * Z, false);

    // Temperature last (llama.cpp order): weights of the survivors at l / T. After top-p, a
    // survivor whose pre-temperature weight underflowed to 0 (only possible when rounding made
    // top-p keep everything) stays at 0 rather than being revived by a high temperature.
    const invT = 1 / p.temperature;
    if (useTopP) for (let i = 0; i < n; i++) ws[i] = ws[i] > 0 ? expNeg((vals[i] - M) * invT) : 0;
    else for (let i = 0; i < n; i++) ws[i] = expNeg((vals[i] - M) * invT);
    return n;
  }

  /**
   * Log-probabilities (natural log) of `chosen` and of the `topN` most likely tokens.
   *
   * Choice: these are the MODEL's distribution, log_softmax of the raw logits over the real
   * vocabulary [0, vocabSize), before logit bias, penalties, temperature and truncation, as
   * OpenAI-style `logprobs` report it (and as vLLM does by default). A token with a NaN or
   * -Infinity raw logit reports -Infinity. `top` is best first, ties by lower id.
   */
  logprobs(logits: Float32Array, chosen: number, topN: number): { logprob: number; top: Array<{ id: number; logprob: number }> } {
    const V = this.vocabSize;
    if (!Number.isInteger(chosen) || chosen < 0 || chosen >= V) throw new Error(`Sampler.logprobs: token id ${chosen} outside the vocabulary [0, ${V})`);
    if (!Number.isInteger(topN) || topN < 0) throw new Error(`Sampler.logprobs: topN must be an integer >= 0, got ${topN}`);
    this.load(logits, 'logprobs');
    this.scan();
    const M = this.max;
    const work = this.work;
    if (this.best < 0) return { logprob: -Infinity, top: [] };
    let S = 0;
    for (let i = 0; i < V; i++) S += expNeg(work[i] - M);
    const logZ = M + Math.log(S);
    const lp = (v: number) => (v === -Infinity ? -Infinity : v - logZ);
    const top: Array<{ id: number; logprob: number }> = [];
    const k = Math.min(topN, this.finite);
    if (k > 0) {
      const c = this.candidates();
      this.gatherTopK(k);
      c.sortRange(0, k);
      for (let i = 0; i < k; i++) top.push({ id: c.ids[i], logprob: lp(c.vals[i]) });
    }
    return { logprob: lp(work[chosen]), top };
  }

  private candidates(): Candidates {
    return (this.cand ??= new Candidates(this.vocabSize));
  }

  /** Validate and copy logits[0, V) into the scratch buffer (the caller's array is never modified). */
  private load(logits: Float32Array, what: string): void {
    if (!(logits instanceof Float32Array)) throw new Error(`Sampler.${what}: logits must be a Float32Array`);
    if (logits.length < this.vocabSize) {
      throw new Error(`Sampler.${what}: logits has ${logits.length} entries, fewer than the vocabulary size ${this.vocabSize}`);
    }
    this.work.set(logits.length === this.vocabSize ? logits : logits.subarray(0, this.vocabSize));
  }

  /** Sanitize the scratch (NaN -> -Inf, +Inf -> float32 max) and record max/argmax/min/count. */
  private scan(): void {
    const work = this.work;
    let best = -1;
    let M = -Infinity;
    let lo = Infinity;
    let finite = 0;
    for (let i = 0, V = this.vocabSize; i < V; i++) {
      let v = work[i];
      if (v !== v) v = work[i] = -Infinity;
      else if (v === Infinity) v = work[i] = F32_MAX;
      if (v > M) {
        M = v;
        best = i;
      }
      if (v !== -Infinity) {
        finite++;
        if (v < lo) lo = v;
      }
    }
    this.best = best;
    this.max = M;
    this.min = lo;
    this.finite = finite;
    // First-pass selection grid: GRID buckets over [max - R, max] (everything lower falls in
    // the last bucket); S = buckets per nat. R = 0 when all finite logits are equal.
    const R = best < 0 ? 0 : Math.min(M - lo, GRID_RANGE);
    this.gridR = R;
    this.gridS = R > 0 ? GRID / R : 0;
  }


  /** Gather into the candidates the k best finite logits (exact, ties -> lower id) at [0, k). */
  private gatherTopK(k: number): number {
    const R = this.gridR;
    const S = this.gridS;
    let boundary = GRID - 1;
    if (R > 0) {
      const work = this.work;
      const M = this.max;
      const grid = this.grid;
      grid.fill(0);
      for (let i = 0, V = this.vocabSize; i < V; i++) {
        const d = M - work[i];
        if (d !== Infinity) grid[d >= R ? GRID - 1 : Math.min(GRID - 1, (d * S) | 0)]++;
      }
      boundary = findBoundary(grid, k);
    }
    this.gather(boundary, -Infinity);
    const c = this.cand!;
    return (c.n = keepTopPrefix(c, k, true));
  }

  /**
   * Gather into the candidates every finite logit >= minLogit that may lie in grid buckets
   * <= boundary; returns n. The cut is a logit threshold a hundredth of a bucket below the
   * boundary bucket's lower edge, so the set is a superset of those buckets and closed under
   * "better than" (the exact refinement in keepTopPrefix then gives the exact prefix).
   */
  private gather(boundary: number, minLogit: number, weights?: Float64Array): number {
    const c = this.candidates();
    const { ids, vals, ws } = c;
    const work = this.work;
    const R = this.gridR;
    const S = this.gridS;
    let thr = -F32_MAX; // every finite float32 passes, -Infinity does not
    if (boundary < GRID - 1 && R > 0) thr = Math.max(thr, this.max - (boundary + 1.01) / S);
    if (minLogit > thr) thr = minLogit;
    let n = 0;
    if (weights) {
      for (let i = 0, V = this.vocabSize; i < V; i++) {
        const v = work[i];
        if (v >= thr) {
          ids[n] = i;
          vals[n] = v;
          ws[n] = weights[i];
          n++;
        }
      }
    } else {
      for (let i = 0, V = this.vocabSize; i < V; i++) {
        const v = work[i];
        if (v >= thr) {
          ids[n] = i;
          vals[n] = v;
          n++;
        }
      }
    }
    return (c.n = n);
  }
}

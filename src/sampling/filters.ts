/**
 * Logit transforms (bias, penalties) and the partial selection used by top-k / top-p.
 *
 * Everything here works on Float32Array logits of the real vocabulary [V] and is O(V) or better;
 * no full sort of the vocabulary ever happens (V is ~129k-152k for DeepSeek models and the sampler
 * runs once per token). The in-place variants are what the Sampler uses on its scratch copy; the
 * copying variants (`applyPenalties`, `applyLogitBias`) are pure and exist for tests and callers
 * that want the transformed logits.
 *
 * Arithmetic follows llama.cpp's float32 sampler code: every intermediate result is rounded to
 * float32 (Math.fround), so penalised logits match llama.cpp bit for bit.
 */

export interface PenaltyParams {
  /** Multiplicative (CTRL / HF / llama.cpp): logit > 0 ? logit / p : logit * p. 1 = off. */
  readonly repetitionPenalty?: number;
  /** OpenAI presence penalty: logit -= presence * (count > 0). */
  readonly presencePenalty?: number;
  /** OpenAI frequency penalty: logit -= frequency * count. */
  readonly frequencyPenalty?: number;
  /** How many of the most recent history ids are counted (0 = off, -1 = whole history). */
  readonly penaltyLastN?: number;
}

/** Bounds [start, end) of the penalty window within `history`. */
export function penaltyWindow(historyLength: number, lastN: number): [number, number] {
  if (lastN === 0) return [historyLength, historyLength];
  const start = lastN < 0 ? 0 : Math.max(0, historyLength - lastN);
  return [start, historyLength];
}

function penaltiesActive(p: Required<PenaltyParams>): boolean {
  return p.penaltyLastN !== 0 && (p.repetitionPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0);
}

function withPenaltyDefaults(p: PenaltyParams): Required<PenaltyParams> {
  return {
    repetitionPenalty: p.repetitionPenalty ?? 1,
    presencePenalty: p.presencePenalty ?? 0,
    frequencyPenalty: p.frequencyPenalty ?? 0,
    penaltyLastN: p.penaltyLastN ?? 64,
  };
}

/**
 * Apply repetition / presence / frequency penalties in place to logits[0, n).
 * History ids outside [0, n) are ignored (they can never be sampled anyway).
 * `counts` is an optional zeroed scratch of length >= n; it is returned zeroed.
 */
export function applyPenaltiesInPlace(
  logits: Float32Array,
  n: number,
  history: readonly number[],
  params: PenaltyParams,
  counts?: Uint32Array,
): void {
  const p = withPenaltyDefaults(params);
  if (!penaltiesActive(p)) return;
  const [start, end] = penaltyWindow(history.length, p.penaltyLastN);
  if (start >= end) return;
  const cnt = counts ?? new Uint32Array(n);
  const touched: number[] = [];
  for (let i = start; i < end; i++) {
    const id = history[i];
    if (!Number.isInteger(id) || id < 0 || id >= n) continue;
    if (cnt[id]++ === 0) touched.push(id);
  }
  const rep = Math.fround(p.repetitionPenalty);
  const freq = Math.fround(p.frequencyPenalty);
  const pres = Math.fround(p.presencePenalty);
  for (const id of touched) {
    const c = cnt[id];
    cnt[id] = 0;
    let l = logits[id];
    // llama.cpp: `logit <= 0 ? logit * penalty : logit / penalty` (same result at 0).
    if (rep !== 1) l = l <= 0 ? Math.fround(l * rep) : Math.fround(l / rep);
    if (freq !== 0 || pres !== 0) l = Math.fround(l - Math.fround(Math.fround(c * freq) + pres));
    logits[id] = l;
  }
}

/** Pure: a penalised copy of `logits` (all entries; ids outside the array are ignored). */
export function applyPenalties(logits: Float32Array, history: readonly number[], params: PenaltyParams): Float32Array {
  const out = Float32Array.from(logits);
  applyPenaltiesInPlace(out, out.length, history, params);
  return out;
}

export type LogitBias = Record<number, number> | Map<number, number>;

/** Bias entries as [id, bias] pairs (Record keys are strings). */
export function biasEntries(bias: LogitBias | undefined): Array<[number, number]> {
  if (bias === undefined || bias === null) return [];
  if (bias instanceof Map) return [...bias.entries()];
  return Object.entries(bias).map(([k, v]) => [Number(k), v]);
}

/** Add biases in place to logits[0, n); ids outside [0, n) are ignored. -Infinity bans a token. */
export function applyLogitBiasInPlace(logits: Float32Array, n: number, bias: LogitBias): void {
  for (const [id, b] of biasEntries(bias)) {
    if (!Number.isInteger(id) || id < 0 || id >= n) continue;
    logits[id] = Math.fround(logits[id] + b);
  }
}

/** Pure: a biased copy of `logits`. */
export function applyLogitBias(logits: Float32Array, bias: LogitBias): Float32Array {
  const out = Float32Array.from(logits);
  applyLogitBiasInPlace(out, out.length, bias);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Partial selection

/**
 * A working candidate set: parallel arrays of token id, logit and weight, first `n` entries live.
 * Order of "best first" is (logit descending, id ascending): ties prefer the lower id, as greedy.
 */
export class Candidates {
  readonly ids: Int32Array;
  readonly vals: Float32Array;
  readonly ws: Float64Array;
  n = 0;
  constructor(capacity: number) {
    this.ids = new Int32Array(capacity);
    this.vals = new Float32Array(capacity);
    this.ws = new Float64Array(capacity);
  }
  swap(i: number, j: number): void {
    const id = this.ids[i];
    this.ids[i] = this.ids[j];
    this.ids[j] = id;
    const v = this.vals[i];
    this.vals[i] = this.vals[j];
    this.vals[j] = v;
    const w = this.ws[i];
    this.ws[i] = this.ws[j];
    this.ws[j] = w;
  }
  /** Sort [start, end) best first. Only used on small ranges or ranges of equal logits. */
  sortRange(start: number, end: number): void {
    const { ids, vals } = this;
    if (end - start > 64) {
      // Large range: sort a permutation natively, then apply it.
      const perm = Array.from({ length: end - start }, (_, k) => start + k);
      perm.sort((a, b) => vals[b] - vals[a] || ids[a] - ids[b]);
      const id2 = perm.map((k) => ids[k]);
      const v2 = perm.map((k) => vals[k]);
      const w2 = perm.map((k) => this.ws[k]);
      for (let k = 0; k < perm.length; k++) {
        ids[start + k] = id2[k];
        vals[start + k] = v2[k];
        this.ws[start + k] = w2[k];
      }
      return;
    }
    for (let i = start + 1; i < end; i++) {
      for (let j = i; j > start; j--) {
        const a = j - 1;
        if (vals[a] > vals[j] || (vals[a] === vals[j] && ids[a] < ids[j])) break;
        this.swap(a, j);
      }
    }
  }
}

const BUCKETS = 256;
const SMALL = 64;
const hMass = new Float64Array(BUCKETS);

/**
 * Reorder `c` so that its best-first prefix whose cumulative weight first reaches `target` sits
 * in [0, k) (in no particular order), and return k. Weights are `c.ws` or 1 each when `unit`
 * (then target = k for top-k). If the total weight never reaches `target`, everything is kept.
 *
 * Method: histogram the logits of the undecided range into 256 buckets, walk the buckets from
 * the top until the weight reaches the target, keep the buckets above, drop those below and
 * recurse into the boundary bucket only (range = its actual min/max, so each round strictly
 * shrinks). Each round also narrows the value range by 256x, and float32 logits collapse to one
 * value after at most ~19 such rounds, so the cost is O(n) even on adversarial inputs (typically
 * 1-3 rounds). Ranges of <= 64 entries, or of equal logits, are sorted directly.
 */
export function keepTopPrefix(c: Candidates, target: number, unit: boolean): number {
  const { vals, ws } = c;
  let start = 0;
  let end = c.n;
  // A non-positive target still keeps the single best candidate.
  let remaining = target > 0 ? target : Number.MIN_VALUE;
  for (;;) {
    const m = end - start;
    if (m === 0) return start;
    let hi = -Infinity;
    let lo = Infinity;
    for (let i = start; i < end; i++) {
      const v = vals[i];
      if (v > hi) hi = v;
      if (v < lo) lo = v;
    }
    if (m <= SMALL || hi === lo) {
      c.sortRange(start, end);
      let cum = 0;
      for (let i = start; i < end; i++) {
        cum += unit ? 1 : ws[i];
        if (cum >= remaining) return i + 1;
      }
      return end;
    }
    // Bucket 0 holds the largest logits. floor((hi - v) * scale) is monotone in v, so the
    // bucket order never contradicts the logit order even with rounding.
    const scale = BUCKETS / (hi - lo);
    hMass.fill(0);
    for (let i = start; i < end; i++) {
      const b = Math.min(BUCKETS - 1, Math.floor((hi - vals[i]) * scale));
      hMass[b] += unit ? 1 : ws[i];
    }
    let cum = 0;
    let boundary = -1;
    for (let b = 0; b < BUCKETS; b++) {
      if (cum + hMass[b] >= remaining) {
        boundary = b;
        break;
      }
      cum += hMass[b];
    }
    if (boundary < 0) return end; // total weight below target: keep all
    // Three-way partition: [start, lt) above boundary (kept), [lt, gt) boundary, [gt, end) dropped.
    let lt = start;
    let i = start;
    let gt = end;
    while (i < gt) {
      const b = Math.min(BUCKETS - 1, Math.floor((hi - vals[i]) * scale));
      if (b < boundary) c.swap(lt++, i++);
      else if (b > boundary) c.swap(i, --gt);
      else i++;
    }
    remaining -= cum; // > 0: the buckets above did not reach the target
    start = lt;
    end = gt;
  }
}

// ---------------------------------------------------------------------------------------------
// Fast exp for x <= 0 (softmax weights relative to the max). Math.exp costs ~3x more and the
// sampler evaluates up to two exps per vocabulary entry per token. exp(x) = 2^(k/64) * e^r with
// k = round(x * 64 / ln2), |r| <= ln2/128, e^r by a degree-4 Taylor polynomial: relative error
// < 1e-13, far below float32 logit resolution. Returns 0 below -700 (and for -Infinity / NaN).

const EXP_K = 64 * Math.LOG2E;
const EXP_LN2_64 = Math.LN2 / 64;
const EXP_FRAC = Float64Array.from({ length: 64 }, (_, j) => 2 ** (j / 64));
/** EXP_POW[e] = 2^-e for e in [0, 1100). */
const EXP_POW = Float64Array.from({ length: 1100 }, (_, e) => 2 ** -e);

export function expNeg(x: number): number {
  if (!(x > -700)) return 0;
  if (x > 0) return Math.exp(x); // not expected; stays correct
  const k = (x * EXP_K - 0.5) | 0; // round to nearest (x <= 0)
  const r = x - k * EXP_LN2_64;
  return EXP_FRAC[k & 63] * EXP_POW[-(k >> 6)] * (1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24)))));
}

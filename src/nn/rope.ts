/**
 * Rotary embedding frequency tables: reduces every rope variant to one inverse frequency per
 * rotated pair plus an amplitude, the form RopeSpec (ops/types.ts) takes.
 *
 * Follows ggml (ggml-cpu ops.cpp rope_yarn / ggml_rope_cache_init, ggml.c
 * ggml_rope_yarn_corr_dims) and llama.cpp's context setup (llama-context.cpp yarn_attn_factor);
 * see shared deepseek-reference.md section 4. For pair i (0 <= i < nDims/2) at position p ggml
 * computes
 *   theta_extrap = p * base^(-2i/nDims) / ff[i]          (ff = rope_freqs.weight, else 1)
 *   theta_interp = freq_scale * theta_extrap              (freq_scale = 1 / factor)
 *   theta        = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix
 * where ramp_mix = 0 except for YaRN (ext_factor = 1). Every term is linear in p, so
 * theta = p * invFreq[i]. (ggml forms theta by repeated f32 multiplication per position; we
 * compute invFreq in f64 and round it once to f32, the way HF and DeepSeek's reference do.)
 */

export interface RopeScaling {
  type: 'none' | 'linear' | 'yarn' | 'llama3';
  /** linear: positions / factor; yarn: context extension factor; llama3: HF `factor`. */
  factor?: number;
  /** yarn / llama3: original max positions (GGUF rope.scaling.original_context_length). */
  originalContext?: number;
  /** yarn ramp bounds in rotations, defaults 32 / 1. */
  betaFast?: number;
  betaSlow?: number;
  /**
   * yarn (DeepSeek): HF `mscale` / `mscale_all_dim`, the inputs of the rope amplitude and of the
   * softmax scale (deepseek-reference.md 3.5). From a DeepSeek GGUF (deepseek2/deepseek32) set
   * mscaleAllDim = `rope.scaling.yarn_log_multiplier / 0.1` and leave mscale unset (it defaults
   * to mscaleAllDim, as llama.cpp assumes for deepseek2); the rope amplitude is then exactly 1.
   */
  mscale?: number;
  mscaleAllDim?: number;
  /** llama3 (HF parameters): defaults 1 / 4. */
  lowFreqFactor?: number;
  highFreqFactor?: number;
  /**
   * Extra amplitude multiplier for any type (GGUF `rope.scaling.attn_factor`, llama.cpp
   * hparams.rope_attn_factor), default 1.
   */
  attnFactor?: number;
}

/** HF / DeepSeek yarn_get_mscale: 0.1 * m * ln(scale) + 1 for scale > 1, else 1. */
export function yarnGetMscale(scale: number, m = 1): number {
  return scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1;
}

function positive(v: number | undefined, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`rope scaling: ${what} must be a positive number, got ${v}`);
  return v;
}

function optFinite(v: number | undefined, def: number, what: string): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`rope scaling: ${what} must be a finite number, got ${v}`);
  return v;
}

/**
 * ggml_rope_yarn_corr_dims: the pair-index range [low, high] over which YaRN blends from the
 * original (extrapolated) to the interpolated frequency. ggml evaluates it in f32 (logf), then
 * floors/ceils; we mirror the f32 rounding so that a value near an integer lands on the same side.
 */
export function yarnCorrDims(nDims: number, originalContext: number, base: number, betaFast: number, betaSlow: number): [number, number] {
  const fr = Math.fround;
  const corrDim = (nRot: number): number =>
    fr(fr(nDims * fr(Math.log(fr(originalContext / fr(fr(nRot * 2) * fr(Math.PI)))))) / fr(2 * fr(Math.log(fr(base)))));
  const start = Math.floor(corrDim(betaFast));
  const end = Math.ceil(corrDim(betaSlow));
  return [Math.max(0, start), Math.min(nDims - 1, end)];
}

/**
 * Per-pair inverse frequencies and rotation amplitude.
 * @param nDims       rotated elements per head (even)
 * @param base        rope.freq_base (theta)
 * @param scaling     rope scaling parameters
 * @param freqFactors optional per-pair divisors (GGUF `rope_freqs.weight`, how llama.cpp's
 *                    converter stores Llama-3 scaling), length nDims/2
 * @returns invFreq [nDims/2] and mscale, the factor both rotated values are multiplied by:
 *   - none / linear / llama3: 1 (ggml applies no amplitude without YaRN).
 *   - yarn: llama.cpp's effective amplitude (it cancels ggml's built-in 1 + 0.1 ln(factor) and
 *     supplies its own), which equals HF's `attention_factor`:
 *       mscaleAllDim given (non-zero): get_mscale(f, mscale) / get_mscale(f, mscaleAllDim),
 *                                      mscale defaulting to mscaleAllDim (= 1 for every
 *                                      DeepSeek config; see yarnAmplitude)
 *       otherwise:                     get_mscale(f, 1) = 1 + 0.1 ln(f) (plain ggml YaRN)
 *   - times `attnFactor` (default 1) in every case.
 */
export function ropeInvFreq(
  nDims: number,
  base: number,
  scaling: RopeScaling,
  freqFactors?: Float32Array,
): { invFreq: Float32Array; mscale: number } {
  if (!Number.isInteger(nDims) || nDims < 2 || nDims % 2 !== 0) throw new Error(`rope: dimension count ${nDims} must be a positive even integer`);
  if (!Number.isFinite(base) || base <= 0) throw new Error(`rope: frequency base ${base} must be a positive number`);
  const half = nDims / 2;
  if (freqFactors) {
    if (freqFactors.length !== half) throw new Error(`rope: rope_freqs has ${freqFactors.length} factors, expected ${half} (nDims / 2)`);
    for (let i = 0; i < half; i++) {
      const f = freqFactors[i]!;
      if (!Number.isFinite(f) || f <= 0) throw new Error(`rope: rope_freqs factor ${i} is ${f}, must be positive`);
    }
  }
  const attnFactor = scaling.attnFactor === undefined ? 1 : positive(scaling.attnFactor, 'attnFactor');

  // theta_extrap per unit position: base^(-2i/nDims) / ff[i]
  const extrap = new Float64Array(half);
  for (let i = 0; i < half; i++) extrap[i] = Math.pow(base, (-2 * i) / nDims) / (freqFactors ? freqFactors[i]! : 1);

  const invFreq = new Float32Array(half);
  let mscale = 1;
  switch (scaling.type) {
    case 'none':
      for (let i = 0; i < half; i++) invFreq[i] = extrap[i]!;
      break;
    case 'linear': {
      const factor = positive(scaling.factor, 'linear factor');
      for (let i = 0; i < half; i++) invFreq[i] = extrap[i]! / factor;
      break;
    }
    case 'llama3': {
      if (freqFactors) throw new Error('rope: llama3 scaling given both as parameters and as rope_freqs factors');
      llama3(extrap, scaling);
      for (let i = 0; i < half; i++) invFreq[i] = extrap[i]!;
      break;
    }
    case 'yarn': {
      const factor = positive(scaling.factor, 'yarn factor');
      const orig = positive(scaling.originalContext, 'yarn originalContext');
      const betaFast = optFinite(scaling.betaFast, 32, 'yarn betaFast');
      const betaSlow = optFinite(scaling.betaSlow, 1, 'yarn betaSlow');
      if (base <= 1) throw new Error(`rope: yarn needs a frequency base > 1, got ${base}`);
      const [low, high] = yarnCorrDims(nDims, orig, base, betaFast, betaSlow);
      for (let i = 0; i < half; i++) {
        // ggml rope_yarn_ramp: 1 - clamp((i - low) / max(0.001, high - low), 0, 1); ext_factor = 1
        const y = (i - low) / Math.max(0.001, high - low);
        const rampMix = 1 - Math.min(1, Math.max(0, y));
        invFreq[i] = (extrap[i]! / factor) * (1 - rampMix) + extrap[i]! * rampMix;
      }
      mscale = yarnAmplitude(factor, scaling);
      break;
    }
    default:
      throw new Error(`rope: unknown scaling type ${String((scaling as { type: unknown }).type)}`);
  }
  return { invFreq, mscale: mscale * attnFactor };
}

/**
 * YaRN rotation amplitude before attnFactor (see ropeInvFreq). mscale defaults to mscaleAllDim:
 * that is llama.cpp's deepseek2 rule (a GGUF only stores mscale_all_dim, as yarn_log_multiplier)
 * and what every DeepSeek HF config says. For another architecture read from a GGUF with a
 * yarn_log_multiplier, pass mscale: 1 to get llama.cpp's generic rule.
 */
function yarnAmplitude(factor: number, s: RopeScaling): number {
  // HF `if mscale and mscale_all_dim` is false: plain get_mscale(factor)
  if (!s.mscaleAllDim) return yarnGetMscale(factor);
  const all = optFinite(s.mscaleAllDim, 0, 'yarn mscaleAllDim');
  const m = optFinite(s.mscale, all, 'yarn mscale');
  return yarnGetMscale(factor, m) / yarnGetMscale(factor, all);
}

/** HF `_compute_llama3_parameters` applied in place to inverse frequencies (deepseek-reference 4.4). */
function llama3(invFreq: Float64Array, s: RopeScaling): void {
  const factor = positive(s.factor, 'llama3 factor');
  const orig = positive(s.originalContext, 'llama3 originalContext');
  const lowF = s.lowFreqFactor === undefined ? 1 : positive(s.lowFreqFactor, 'llama3 lowFreqFactor');
  const highF = s.highFreqFactor === undefined ? 4 : positive(s.highFreqFactor, 'llama3 highFreqFactor');
  if (highF <= lowF) throw new Error(`rope scaling: llama3 highFreqFactor ${highF} must exceed lowFreqFactor ${lowF}`);
  const lowWl = orig / lowF, highWl = orig / highF;
  for (let i = 0; i < invFreq.length; i++) {
    const f = invFreq[i]!;
    const wl = (2 * Math.PI) / f;
    if (wl < highWl) continue; // high frequency: unchanged
    if (wl > lowWl) { invFreq[i] = f / factor; continue; } // low frequency: fully interpolated
    const smooth = (orig / wl - lowF) / (highF - lowF);
    invFreq[i] = ((1 - smooth) * f) / factor + smooth * f;
  }
}

/**
 * Multiplier for the attention softmax scale of DeepSeek MLA models under YaRN (deepseek-reference
 * 3.5): softmax_scale = qk_head_dim^-0.5 * yarnAttentionScale(scaling). llama.cpp's deepseek2
 * graph uses kq_scale = mscale^2 / sqrt(qk_head_dim) with
 *   mscale = amplitude * (1 + 0.1 * mscale_all_dim * ln(factor)),
 * amplitude being the rope amplitude ropeInvFreq returns (1 for DeepSeek configs, where
 * mscale == mscale_all_dim). That equals HF's get_mscale(factor, mscale_all_dim)^2.
 * V3 (factor 40, mscaleAllDim 1): 1.873854; V2 (0.707): 1.589626. 1 when not YaRN.
 * Only DeepSeek-style graphs apply this; llama.cpp does not scale other architectures' softmax.
 */
export function yarnAttentionScale(scaling: RopeScaling): number {
  if (scaling.type !== 'yarn') return 1;
  const factor = positive(scaling.factor, 'yarn factor');
  const attnFactor = scaling.attnFactor === undefined ? 1 : positive(scaling.attnFactor, 'attnFactor');
  const m = yarnAmplitude(factor, scaling) * attnFactor * yarnGetMscale(factor, optFinite(scaling.mscaleAllDim, 0, 'yarn mscaleAllDim'));
  return m * m;
}

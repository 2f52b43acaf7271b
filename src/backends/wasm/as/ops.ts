// Elementwise, rope and attention kernels of deepcard's wasm backend (AssemblyScript, SIMD128).
//
// Every pointer is a byte offset into the imported shared memory; kernels never allocate. Every
// kernel works on a caller-chosen range (rows, elements or (token, head) pairs) so the JS side can
// split one op across threads; a kernel's result for an element never depends on the range split.
// Numerics follow ggml's CPU ops (rms_norm sums squares in f64, silu = x / (1 + exp(-x)),
// max-subtracted softmax); exp is a vectorised Cody-Waite + degree-7 polynomial (< 2e-7 relative).

// ---- vector exp ---------------------------------------------------------------------------------

// ln2 split so that n * LN2_HI is exact for |n| < 2^12 (Cody-Waite range reduction).
const LN2_HI: f32 = 0.693145751953125;
const LN2_LO: f32 = 1.428606765330187e-6;
const LOG2E: f32 = 1.4426950408889634;

/** exp of 4 lanes. Below -103.97 the result underflows to 0, above 88.72 it saturates near f32 max. */
// @ts-ignore: decorator
@inline function expv(x: v128): v128 {
  // pmin / pmax: one minps / maxps each (f32x4.min / max lower to 7 instructions for their NaN
  // and signed-zero rules); NaN still propagates (the comparison is false and x is kept)
  x = f32x4.pmax(f32x4.pmin(x, f32x4.splat(88.72283)), f32x4.splat(-103.97208));
  // round x * log2(e) to an integer n by adding 1.5 * 2^23 (f32 addition rounds to nearest even);
  // the low mantissa bits of z then hold n as an integer
  const z = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(12582912.0));
  const n = f32x4.sub(z, f32x4.splat(12582912.0));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  // Taylor series to r^7 on |r| <= ln2/2: truncation error < 6e-9 relative.
  let p = f32x4.splat(1.0 / 5040.0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 720.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  // 2^n applied in two halves so that n in [-150, 128] never leaves the normal exponent range.
  const ni = i32x4.sub(z, i32x4.splat(0x4b400000)); // bits of z minus bits of 1.5 * 2^23
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

// @ts-ignore: decorator
@inline function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

/** exp of n floats at p (in place or to out); exported for tests and JS-side softmax needs. */
export function exp_f32(x: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (<usize>i << 2), expv(v128.load(x + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), exps(load<f32>(x + (<usize>i << 2))));
}

// ---- row ops ------------------------------------------------------------------------------------

/**
 * out[t, :] = x[t, :] * (1 / sqrt(mean(x^2) + eps)) (* w) for rows t in [0, T); x, out [T, D], w [D]
 * or 0 for none. Squares are formed in f32 and summed in f64 as ggml does; out may alias x.
 */
export function rms_norm(x: usize, w: usize, out: usize, D: i32, T: i32, eps: f32): void {
  const rowBytes = <usize>D << 2;
  for (let t = 0; t < T; t++) {
    const xr = x + <usize>t * rowBytes;
    const yr = out + <usize>t * rowBytes;
    let a0 = f64x2.splat(0);
    let a1 = f64x2.splat(0);
    let i = 0;
    for (; i + 4 <= D; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      const sq = f32x4.mul(v, v);
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(sq));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<i32>(sq, sq, 2, 3, 0, 1)));
    }
    const a = f64x2.add(a0, a1);
    let sum: f64 = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
    for (; i < D; i++) {
      const v = load<f32>(xr + (<usize>i << 2));
      sum += <f64>(v * v);
    }
    const mean = <f32>(sum / <f64>D);
    const s: f32 = 1.0 / Mathf.sqrt(mean + eps);
    const sv = f32x4.splat(s);
    i = 0;
    if (w != 0) {
      for (; i + 4 <= D; i += 4) {
        const o = <usize>i << 2;
        v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), sv), v128.load(w + o)));
      }
      for (; i < D; i++) {
        const o = <usize>i << 2;
        store<f32>(yr + o, (load<f32>(xr + o) * s) * load<f32>(w + o));
      }
    } else {
      for (; i + 4 <= D; i += 4) {
        const o = <usize>i << 2;
        v128.store(yr + o, f32x4.mul(v128.load(xr + o), sv));
      }
      for (; i < D; i++) {
        const o = <usize>i << 2;
        store<f32>(yr + o, load<f32>(xr + o) * s);
      }
    }
  }
}

// ---- elementwise (n elements; out may alias any input) ------------------------------------------

export function add_f32(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

export function mul_f32(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) * load<f32>(b + o));
  }
}

export function scale_f32(x: usize, out: usize, n: i32, s: f32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(x + o), sv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(x + o) * s);
  }
}

/** out = g / (1 + exp(-g)) * u (ggml's silu, then the product with up). */
export function swiglu_f32(g: usize, u: usize, out: usize, n: i32): void {
  const one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const silu = f32x4.div(gv, f32x4.add(one, expv(f32x4.neg(gv))));
    v128.store(out + o, f32x4.mul(silu, v128.load(u + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const gs = load<f32>(g + o);
    store<f32>(out + o, (gs / (1.0 + exps(-gs))) * load<f32>(u + o));
  }
}

/** y[t, :] += b for t in [0, T); y [T, N], b [N]. */
export function add_bias(y: usize, b: usize, N: i32, T: i32): void {
  const rowBytes = <usize>N << 2;
  for (let t = 0; t < T; t++) add_f32(y + <usize>t * rowBytes, b, y + <usize>t * rowBytes, N);
}

// ---- rope ---------------------------------------------------------------------------------------

/**
 * In place on x [T, H, headDim]: rows t in [0, T) are rotated by angle pos[t] * invFreq[i] for pair
 * i of the region [offset, offset + nDims) of every head, both outputs scaled by mscale.
 * neox = 0: pairs (2i, 2i+1) (GGUF llama / MLA); neox = 1: pairs (i, i + nDims/2) (Qwen2).
 * cs: scratch of nDims floats (cos/sin table of one row). cos/sin are taken in f64.
 */
export function rope_f32(x: usize, pos: usize, T: i32, H: i32, headDim: i32, offset: i32, nDims: i32,
                         neox: i32, invFreq: usize, mscale: f32, cs: usize): void {
  const half = nDims >> 1;
  for (let t = 0; t < T; t++) {
    const p = <f64>load<i32>(pos + (<usize>t << 2));
    for (let i = 0; i < half; i++) {
      const theta = p * <f64>load<f32>(invFreq + (<usize>i << 2));
      store<f32>(cs + (<usize>i << 3), <f32>Math.cos(theta) * mscale);
      store<f32>(cs + (<usize>i << 3) + 4, <f32>Math.sin(theta) * mscale);
    }
    for (let h = 0; h < H; h++) {
      const base = x + ((<usize>t * <usize>H + <usize>h) * <usize>headDim + <usize>offset) * 4;
      if (neox != 0) {
        for (let i = 0; i < half; i++) {
          const c = load<f32>(cs + (<usize>i << 3));
          const s = load<f32>(cs + (<usize>i << 3) + 4);
          const p0 = base + (<usize>i << 2);
          const p1 = base + (<usize>(i + half) << 2);
          const x0 = load<f32>(p0);
          const x1 = load<f32>(p1);
          store<f32>(p0, x0 * c - x1 * s);
          store<f32>(p1, x0 * s + x1 * c);
        }
      } else {
        for (let i = 0; i < half; i++) {
          const c = load<f32>(cs + (<usize>i << 3));
          const s = load<f32>(cs + (<usize>i << 3) + 4);
          const p0 = base + (<usize>i << 3);
          const x0 = load<f32>(p0);
          const x1 = load<f32>(p0 + 4);
          store<f32>(p0, x0 * c - x1 * s);
          store<f32>(p0 + 4, x0 * s + x1 * c);
        }
      }
    }
  }
}

// ---- attention ----------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline function dot_f32(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let s: f32 = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) +
               (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/**
 * Causal attention for (token, head) pairs p = t * nHead + h in [p0, p1).
 * q [T, nHead, dk]; out [T, nHead, dv]; pos [T] i32. Key j of KV head g starts at element
 * j * kRow + g * kHead of k (a row per position: kRow = nKv * dk, kHead = dk; head-major:
 * kRow = dk, kHead = S * dk); values likewise with vRow / vHead (MLA passes v = k with the key
 * strides, the values being the first dv elements of each key row).
 * Query t attends cache rows 0..pos[t]; head h reads kv head h / (nHead / nKv).
 * scores: scratch of at least max(pos) + 1 floats (one per thread). out must not alias q.
 * Scores are taken 4 keys at a time (4 independent accumulators share each q load) and the
 * p.V sum keeps 16 output columns in registers across all keys, for instruction-level parallelism.
 */
function attnHeads(q: usize, k: usize, v: usize, out: usize, pos: usize, nHead: i32, nKv: i32,
                   dk: i32, dv: i32, scale: f32, p0: i32, p1: i32, scores: usize,
                   kRow: i32, kHead: i32, vRow: i32, vHead: i32): void {
  const group = nHead / nKv;
  const kStride = <usize>kRow * 4;
  const vStride = <usize>vRow * 4;
  const dk4 = dk & ~3;
  const zero = f32x4.splat(0);
  const sc = f32x4.splat(scale);
  for (let p = p0; p < p1; p++) {
    const t = p / nHead;
    const h = p - t * nHead;
    const kvh = h / group;
    const n = load<i32>(pos + (<usize>t << 2)) + 1;
    const qr = q + <usize>p * <usize>dk * 4;
    const kb = k + <usize>kvh * <usize>kHead * 4;
    const vb = v + <usize>kvh * <usize>vHead * 4;
    // 1. scores[j] = scale * q.k_j
    let mv = f32x4.splat(-Infinity);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const k0 = kb + <usize>j * kStride, k1 = k0 + kStride, k2 = k1 + kStride, k3 = k2 + kStride;
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      for (let d = 0; d < dk4; d += 4) {
        const o = <usize>d << 2;
        const qv = v128.load(qr + o);
        a0 = fmadd(qv, v128.load(k0 + o), a0);
        a1 = fmadd(qv, v128.load(k1 + o), a1);
        a2 = fmadd(qv, v128.load(k2 + o), a2);
        a3 = fmadd(qv, v128.load(k3 + o), a3);
      }
      let s = hsum4x4(a0, a1, a2, a3); // transpose-add: lane i = horizontal sum of a_i
      if (dk4 < dk) {
        let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
        for (let d = dk4; d < dk; d++) {
          const o = <usize>d << 2;
          const qs = load<f32>(qr + o);
          t0 += qs * load<f32>(k0 + o);
          t1 += qs * load<f32>(k1 + o);
          t2 += qs * load<f32>(k2 + o);
          t3 += qs * load<f32>(k3 + o);
        }
        let tv = f32x4.splat(t0);
        tv = f32x4.replace_lane(tv, 1, t1);
        tv = f32x4.replace_lane(tv, 2, t2);
        tv = f32x4.replace_lane(tv, 3, t3);
        s = f32x4.add(s, tv);
      }
      s = f32x4.mul(s, sc);
      v128.store(scores + (<usize>j << 2), s);
      mv = f32x4.max(mv, s);
    }
    let mx: f32 = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
                      max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; j < n; j++) {
      const s = dot_f32(qr, kb + <usize>j * kStride, dk) * scale;
      store<f32>(scores + (<usize>j << 2), s);
      mx = max(mx, s);
    }
    // 2. exp(s - max) in place, and 1 / their sum
    const inv = softmaxRow(scores, n, mx);
    // 3. out = (sum_j e_j v_j) / sum, 16 (then 4, then 1) columns at a time
    const invv = f32x4.splat(inv);
    const orow = out + <usize>p * <usize>dv * 4;
    let d = 0;
    for (; d + 16 <= dv; d += 16) {
      let o0 = zero, o1 = zero, o2 = zero, o3 = zero;
      let vr = vb + (<usize>d << 2);
      for (j = 0; j < n; j++) {
        const w = v128.load32_splat(scores + (<usize>j << 2));
        o0 = fmadd(w, v128.load(vr), o0);
        o1 = fmadd(w, v128.load(vr, 16), o1);
        o2 = fmadd(w, v128.load(vr, 32), o2);
        o3 = fmadd(w, v128.load(vr, 48), o3);
        vr += vStride;
      }
      const ob = orow + (<usize>d << 2);
      v128.store(ob, f32x4.mul(o0, invv));
      v128.store(ob, f32x4.mul(o1, invv), 16);
      v128.store(ob, f32x4.mul(o2, invv), 32);
      v128.store(ob, f32x4.mul(o3, invv), 48);
    }
    for (; d + 4 <= dv; d += 4) {
      let o0 = zero;
      let vr = vb + (<usize>d << 2);
      for (j = 0; j < n; j++) {
        o0 = f32x4.add(o0, f32x4.mul(v128.load32_splat(scores + (<usize>j << 2)), v128.load(vr)));
        vr += vStride;
      }
      v128.store(orow + (<usize>d << 2), f32x4.mul(o0, invv));
    }
    for (; d < dv; d++) {
      let o0: f32 = 0;
      let vr = vb + (<usize>d << 2);
      for (j = 0; j < n; j++) {
        o0 += load<f32>(scores + (<usize>j << 2)) * load<f32>(vr);
        vr += vStride;
      }
      store<f32>(orow + (<usize>d << 2), o0 * inv);
    }
  }
}

/**
 * a * b + c, multiply then add (two roundings). A fused f32x4.relaxed_madd in the relaxed module
 * was 1.7x faster on cached rows, but on the F16 test model it made 9 of 15 decode positions
 * differ from the full recompute by an f16 rounding flip downstream (2 of 15 unfused); not kept.
 */
// @ts-ignore: decorator
@inline function fmadd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline function hsum4x4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(s01, s23, 0, 1, 4, 5), v128.shuffle<f32>(s01, s23, 2, 3, 6, 7));
}

/** exp(s - max) in place over n scores and 1 / their sum (attention steps 2, for one head). */
function softmaxRow(scores: usize, n: i32, mx: f32): f32 {
  const mxv = f32x4.splat(mx);
  let sv = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    const e = expv(f32x4.sub(v128.load(scores + o), mxv));
    v128.store(scores + o, e);
    sv = f32x4.add(sv, e);
  }
  let sum: f32 = (f32x4.extract_lane(sv, 0) + f32x4.extract_lane(sv, 1)) +
                 (f32x4.extract_lane(sv, 2) + f32x4.extract_lane(sv, 3));
  for (; j < n; j++) {
    const o = <usize>j << 2;
    const e = exps(load<f32>(scores + o) - mx);
    store<f32>(scores + o, e);
    sum += e;
  }
  return <f32>1.0 / sum;
}

/**
 * Two query heads of one token that share a KV head (GQA, MLA): every key and value row is loaded
 * once for both, and 8 accumulators are in flight (two heads x 4 keys, two heads x 16 columns).
 * Each head's arithmetic is exactly attnHeads' (same accumulators, same order), so the results do
 * not depend on which heads were paired. Needs dk % 4 == 0 and dv % 16 == 0. s0 / s1: score rows.
 */
/**
 * Keys ahead of the current 4 whose rows a touching pass loads one byte per cache line of, with
 * the value rows of the current 4 (touch = true: the first head pair of each KV head in a decode
 * call). The cache rows of a decode step come from DRAM, and the hardware prefetcher restarts at
 * every 4 KB page; these independent loads keep about 64 lines in flight. Single thread, 28 layers
 * of 550 positions: 1.2-1.3x on the head-major cache (1.11-1.19x on rows of all heads per
 * position); the other pairs find the rows in L2, and prompts (rows in L2) skip it (0.87x when
 * every pair touched).
 */
// @ts-ignore: decorator
@inline const AHEAD: i32 = 8;
/** Sink of the touched bytes (keeps the loads). */
let touchSink: u32 = 0;
function attnTwoHeads(qa: usize, qb: usize, kb: usize, vb: usize, oa: usize, ob: usize, n: i32, dk: i32, dv: i32,
                      kStride: usize, vStride: usize, scale: f32, s0: usize, s1: usize, touch: bool): void {
  const zero = f32x4.splat(0);
  const sc = f32x4.splat(scale);
  let mva = f32x4.splat(-Infinity), mvb = mva;
  let j = 0;
  let tch: u32 = 0;
  for (; j + 4 <= n; j += 4) {
    const k0 = kb + <usize>j * kStride, k1 = k0 + kStride, k2 = k1 + kStride, k3 = k2 + kStride;
    if (touch && j + AHEAD + 4 <= n) {
      let kt = k0 + <usize>AHEAD * kStride, vt = vb + <usize>j * vStride;
      for (let r = 0; r < 4; r++) {
        for (let l: usize = 0; l < (<usize>dk << 2); l += 64) tch |= load<u8>(kt + l);
        for (let l: usize = 0; l < (<usize>dv << 2); l += 64) tch |= load<u8>(vt + l);
        kt += kStride; vt += vStride;
      }
    }
    let a0 = zero, a1 = zero, a2 = zero, a3 = zero, b0 = zero, b1 = zero, b2 = zero, b3 = zero;
    for (let d = 0; d < dk; d += 4) {
      const o = <usize>d << 2;
      const x = v128.load(qa + o), y = v128.load(qb + o);
      const c0 = v128.load(k0 + o), c1 = v128.load(k1 + o), c2 = v128.load(k2 + o), c3 = v128.load(k3 + o);
      a0 = fmadd(x, c0, a0); b0 = fmadd(y, c0, b0);
      a1 = fmadd(x, c1, a1); b1 = fmadd(y, c1, b1);
      a2 = fmadd(x, c2, a2); b2 = fmadd(y, c2, b2);
      a3 = fmadd(x, c3, a3); b3 = fmadd(y, c3, b3);
    }
    const sa = f32x4.mul(hsum4x4(a0, a1, a2, a3), sc), sb = f32x4.mul(hsum4x4(b0, b1, b2, b3), sc);
    v128.store(s0 + (<usize>j << 2), sa); v128.store(s1 + (<usize>j << 2), sb);
    mva = f32x4.max(mva, sa); mvb = f32x4.max(mvb, sb);
  }
  let mxa: f32 = max(max(f32x4.extract_lane(mva, 0), f32x4.extract_lane(mva, 1)),
                     max(f32x4.extract_lane(mva, 2), f32x4.extract_lane(mva, 3)));
  let mxb: f32 = max(max(f32x4.extract_lane(mvb, 0), f32x4.extract_lane(mvb, 1)),
                     max(f32x4.extract_lane(mvb, 2), f32x4.extract_lane(mvb, 3)));
  for (; j < n; j++) {
    const kr = kb + <usize>j * kStride;
    const sa = dot_f32(qa, kr, dk) * scale, sb = dot_f32(qb, kr, dk) * scale;
    store<f32>(s0 + (<usize>j << 2), sa); store<f32>(s1 + (<usize>j << 2), sb);
    mxa = max(mxa, sa); mxb = max(mxb, sb);
  }
  touchSink |= tch;
  const inva = f32x4.splat(softmaxRow(s0, n, mxa)), invb = f32x4.splat(softmaxRow(s1, n, mxb));
  for (let d = 0; d < dv; d += 16) {
    let o0 = zero, o1 = zero, o2 = zero, o3 = zero, u0 = zero, u1 = zero, u2 = zero, u3 = zero;
    let vr = vb + (<usize>d << 2);
    for (j = 0; j < n; j++) {
      const wa = v128.load32_splat(s0 + (<usize>j << 2)), wb = v128.load32_splat(s1 + (<usize>j << 2));
      const c0 = v128.load(vr), c1 = v128.load(vr, 16), c2 = v128.load(vr, 32), c3 = v128.load(vr, 48);
      o0 = fmadd(wa, c0, o0); u0 = fmadd(wb, c0, u0);
      o1 = fmadd(wa, c1, o1); u1 = fmadd(wb, c1, u1);
      o2 = fmadd(wa, c2, o2); u2 = fmadd(wb, c2, u2);
      o3 = fmadd(wa, c3, o3); u3 = fmadd(wb, c3, u3);
      vr += vStride;
    }
    const pa = oa + (<usize>d << 2), pb = ob + (<usize>d << 2);
    v128.store(pa, f32x4.mul(o0, inva)); v128.store(pa, f32x4.mul(o1, inva), 16);
    v128.store(pa, f32x4.mul(o2, inva), 32); v128.store(pa, f32x4.mul(o3, inva), 48);
    v128.store(pb, f32x4.mul(u0, invb)); v128.store(pb, f32x4.mul(u1, invb), 16);
    v128.store(pb, f32x4.mul(u2, invb), 32); v128.store(pb, f32x4.mul(u3, invb), 48);
  }
}

/**
 * Attention for (token, head) pairs [p0, p1) (contract above attnHeads). Consecutive heads of one
 * token that share a KV head go through attnTwoHeads two at a time, the rest through attnHeads;
 * both give the same results. scores: per-thread scratch of at least 2 * (max(pos) + 4) floats.
 */
export function attention_f32(q: usize, k: usize, v: usize, out: usize, pos: usize, nHead: i32, nKv: i32,
                              dk: i32, dv: i32, scale: f32, p0: i32, p1: i32, scores: usize,
                              kRow: i32, kHead: i32, vRow: i32, vHead: i32): void {
  const group = nHead / nKv;
  if (group < 2 || (dk & 3) != 0 || (dv & 15) != 0) {
    attnHeads(q, k, v, out, pos, nHead, nKv, dk, dv, scale, p0, p1, scores, kRow, kHead, vRow, vHead);
    return;
  }
  const kStride = <usize>kRow * 4;
  const vStride = <usize>vRow * 4;
  // one token per call (decode): the first head pair of each KV head touches the rows (AHEAD)
  const single = p1 - p0 <= nHead;
  let lastKv = -1;
  let p = p0;
  while (p < p1) {
    const t = p / nHead;
    const h = p - t * nHead;
    const kvh = h / group;
    if (p + 1 < p1 && h + 1 < nHead && (h + 1) / group == kvh) {
      const n = load<i32>(pos + (<usize>t << 2)) + 1;
      attnTwoHeads(q + <usize>p * <usize>dk * 4, q + <usize>(p + 1) * <usize>dk * 4, k + <usize>kvh * <usize>kHead * 4,
        v + <usize>kvh * <usize>vHead * 4, out + <usize>p * <usize>dv * 4, out + <usize>(p + 1) * <usize>dv * 4,
        n, dk, dv, kStride, vStride, scale, scores, scores + ((<usize>(n + 3) & ~3) << 2), single && kvh != lastKv);
      lastKv = kvh;
      p += 2;
    } else {
      attnHeads(q, k, v, out, pos, nHead, nKv, dk, dv, scale, p, p + 1, scores, kRow, kHead, vRow, vHead);
      p += 1;
    }
  }
}

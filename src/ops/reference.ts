/**
 * ReferenceBackend: every op of ops/types.ts in plain scalar TypeScript. This is the
 * specification the WebAssembly backend is tested against, so it favours obviousness over speed
 * (tiny models only).
 *
 * Numerics follow llama.cpp's CPU backend:
 * - matmul converts each activation row to the weight's vec_dot type with the exact bytes
 *   llama.cpp produces (quantizeActivation), decodes them back to f32 and forms the dot product
 *   with the dequantized weight row, accumulated in f64. These are the same products llama.cpp's
 *   integer kernels form; only the rounding order differs. One exception needs care: Q4_1/Q5_1
 *   kernels take the min term as m_x * s_y with the Q8_1 block's stored s (= fp16(d_f32 * sum q)),
 *   not m_x * fp16(d) * sum q, so that difference is added back per block (see q81Correction).
 * - Element-wise ops round to f32 where ggml stores an f32 (Float32Array stores do that).
 * - Reductions (rmsNorm sum, softmax, attention) run in f64.
 *
 * Storage: F32 tensors own (or view) a Float32Array; weights of other types own (or view) a
 * Uint8Array of ggml block bytes. A view shares its parent's buffer via subarray.
 */
import { GGMLType, isSupportedWeightType, typeName, typeTraits, vecDotType } from '../formats/ggml-types.js';
import { dequantize, fp16ToF32 } from './dequant.js';
import { quantizeActivation } from './quantize.js';
import type { AttentionSpec, Backend, MatmulJob, RopeSpec, Tensor } from './types.js';
import { colsGeometry, headsGeometry, rowsGeometry } from './geometry.js';

const fr = Math.fround;

/** Largest element count one tensor may have (Float32Array/Uint8Array length safety). */
const MAX_ELEMENTS = 2 ** 31 - 1;

export class RefTensor implements Tensor {
  readonly size: number;
  /** True once free() was called on the allocation this tensor lives in. */
  private freedFlag = false;

  constructor(
    readonly name: string,
    readonly type: GGMLType,
    readonly shape: readonly number[],
    /** F32 data: exactly `size` elements (null for non-F32 weights). */
    readonly f32: Float32Array | null,
    /** ggml block bytes of exactly `size` elements (null for F32 tensors). */
    readonly bytes: Uint8Array | null,
    /** The allocation a view was made from (null for an allocation). */
    readonly root: RefTensor | null,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }

  get freed(): boolean {
    return this.root ? this.root.freedFlag : this.freedFlag;
  }

  /** @internal called by ReferenceBackend.free */
  markFreed(): void {
    this.freedFlag = true;
  }

  /** Bytes held by this allocation's storage. */
  get byteLength(): number {
    return this.f32 ? this.f32.byteLength : this.bytes!.byteLength;
  }
}

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function desc(t: Tensor): string {
  return `${t.name} ${fmtShape(t.shape)}`;
}

function last(t: Tensor): number {
  return t.shape.length ? t.shape[t.shape.length - 1]! : 1;
}

function checkShape(op: string, shape: readonly number[], minDim: number): number {
  if (!Array.isArray(shape) || shape.length < 1) throw new Error(`${op}: shape ${JSON.stringify(shape)} must be a non-empty array`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < minDim) throw new Error(`${op}: shape ${fmtShape(shape)} has an invalid dimension ${d}`);
    n *= d;
  }
  if (n > MAX_ELEMENTS) throw new Error(`${op}: shape ${fmtShape(shape)} has ${n} elements, more than the ${MAX_ELEMENTS} supported`);
  return n;
}

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  readonly threads = 1;
  private readonly live = new Set<RefTensor>();

  // ---- tensor checks ----------------------------------------------------------------------------

  private ref(op: string, t: Tensor, what: string): RefTensor {
    if (!(t instanceof RefTensor)) throw new Error(`${op}: ${what} ${t?.name ?? String(t)} was not created by the reference backend`);
    if (t.freed) throw new Error(`${op}: ${what} ${t.name} has been freed`);
    return t;
  }

  private f32(op: string, t: Tensor, what: string): Float32Array {
    const r = this.ref(op, t, what);
    if (!r.f32) throw new Error(`${op}: ${what} ${desc(t)} must be F32, got ${typeName(t.type)}`);
    return r.f32;
  }

  // ---- memory -----------------------------------------------------------------------------------

  allocF32(shape: readonly number[], name = 'f32'): Tensor {
    const n = checkShape(`allocF32 ${name}`, shape, 0);
    const t = new RefTensor(name, GGMLType.F32, [...shape], new Float32Array(n), null, null);
    this.live.add(t);
    return t;
  }

  createWeight(name: string, type: GGMLType, shape: readonly number[], fill: (dst: Uint8Array) => void): Tensor {
    const op = `createWeight ${name}`;
    if (!isSupportedWeightType(type)) throw new Error(`${op}: unsupported tensor type ${typeName(type)}`);
    const n = checkShape(op, shape, 1);
    const tr = typeTraits(type)!;
    const inner = shape[shape.length - 1]!;
    if (inner % tr.blockSize !== 0) {
      throw new Error(`${op}: row of ${inner} elements is not a multiple of ${tr.name} block size ${tr.blockSize}`);
    }
    let t: RefTensor;
    if (type === GGMLType.F32) {
      // F32 weights are ordinary F32 tensors (usable as norm weights, biases, ...); the fill
      // callback writes the little-endian bytes straight into the Float32Array's buffer.
      const f = new Float32Array(n);
      fill(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
      t = new RefTensor(name, type, [...shape], f, null, null);
    } else {
      const b = new Uint8Array((n / tr.blockSize) * tr.typeSize);
      fill(b);
      t = new RefTensor(name, type, [...shape], null, b, null);
    }
    this.live.add(t);
    return t;
  }

  free(t: Tensor): void {
    const r = this.ref('free', t, 'tensor');
    if (r.root) throw new Error(`free: ${t.name} is a view; free the tensor it was made from instead`);
    r.markFreed();
    this.live.delete(r);
  }

  view(t: Tensor, offset: number, shape: readonly number[]): Tensor {
    const r = this.ref('view', t, 'tensor');
    const n = checkShape(`view of ${t.name}`, shape, 0);
    if (!Number.isInteger(offset) || offset < 0 || offset + n > r.size) {
      throw new Error(`view: ${fmtShape(shape)} at offset ${offset} does not fit in ${desc(t)}`);
    }
    const root = r.root ?? r;
    if (r.f32) return new RefTensor(t.name, t.type, [...shape], r.f32.subarray(offset, offset + n), null, root);
    // Quantized data is a stream of rows of whole blocks: views must start and end on rows.
    const rowLen = last(r), inner = shape[shape.length - 1]!;
    if (offset % rowLen !== 0 || inner % rowLen !== 0) {
      throw new Error(`view: ${typeName(t.type)} tensor ${desc(t)}: offset ${offset} and innermost size ${inner} must be multiples of the row length ${rowLen}`);
    }
    const tr = typeTraits(t.type)!;
    const b0 = (offset / tr.blockSize) * tr.typeSize, nb = (n / tr.blockSize) * tr.typeSize;
    return new RefTensor(t.name, t.type, [...shape], null, r.bytes!.subarray(b0, b0 + nb), root);
  }

  write(t: Tensor, data: Float32Array, offset = 0): void {
    const d = this.f32('write', t, 'tensor');
    if (!(data instanceof Float32Array)) throw new Error(`write: data for ${t.name} must be a Float32Array`);
    if (!Number.isInteger(offset) || offset < 0 || offset + data.length > d.length) {
      throw new Error(`write: ${data.length} elements at offset ${offset} do not fit in ${desc(t)}`);
    }
    d.set(data, offset);
  }

  read(t: Tensor, offset = 0, count?: number): Float32Array {
    const d = this.f32('read', t, 'tensor');
    const c = count ?? d.length - offset;
    if (!Number.isInteger(offset) || !Number.isInteger(c) || offset < 0 || c < 0 || offset + c > d.length) {
      throw new Error(`read: ${c} elements at offset ${offset} are outside ${desc(t)}`);
    }
    return d.slice(offset, offset + c);
  }

  copy(dst: Tensor, src: Tensor): void {
    const d = this.f32('copy', dst, 'dst'), s = this.f32('copy', src, 'src');
    if (d.length !== s.length) throw new Error(`copy: src ${desc(src)} and dst ${desc(dst)} differ in size`);
    d.set(s); // TypedArray.set copies correctly even when both share (overlapping) memory
  }

  // ---- ops --------------------------------------------------------------------------------------

  getRows(out: Tensor, table: Tensor, ids: Int32Array): void {
    const op = 'getRows';
    const tab = this.ref(op, table, 'table');
    const o = this.f32(op, out, 'out');
    if (table.shape.length !== 2) throw new Error(`${op}: table ${desc(table)} must be 2-D [V, D]`);
    const [V, D] = table.shape as [number, number];
    if (last(out) !== D || o.length !== ids.length * D) {
      throw new Error(`${op}: out ${desc(out)} does not match ${ids.length} rows of table ${desc(table)}`);
    }
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`${op}: row id ${id} is outside table ${desc(table)}`);
    }
    for (let t = 0; t < ids.length; t++) o.set(this.row(tab, ids[t]!, D), t * D);
  }

  /** Row r of a 2-D tensor with rows of D elements, as f32 (a fresh array or a subarray view). */
  private row(t: RefTensor, r: number, D: number): Float32Array {
    if (t.f32) return t.f32.subarray(r * D, (r + 1) * D);
    const tr = typeTraits(t.type)!;
    const rb = (D / tr.blockSize) * tr.typeSize;
    return dequantize(t.type, t.bytes!.subarray(r * rb, (r + 1) * rb), D);
  }

  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, eps: number): void {
    const op = 'rmsNorm';
    const xs = this.f32(op, x, 'x'), o = this.f32(op, out, 'out');
    const D = last(x);
    if (D < 1 || o.length !== xs.length || last(out) !== D) throw new Error(`${op}: out ${desc(out)} does not match x ${desc(x)}`);
    const w = weight ? this.f32(op, weight, 'weight') : null;
    if (w && w.length !== D) throw new Error(`${op}: weight ${desc(weight!)} does not match rows of ${D} in x ${desc(x)}`);
    if (!Number.isFinite(eps) || eps < 0) throw new Error(`${op}: invalid eps ${eps}`);
    const epsF = fr(eps);
    for (let r = 0; r < xs.length / D; r++) {
      const row = xs.slice(r * D, (r + 1) * D); // copy: out may alias x
      // ggml rms_norm_f32: sum += (ggml_float)(x*x) with the square in f32; mean, scale in f32.
      let sum = 0;
      for (let i = 0; i < D; i++) sum += fr(row[i]! * row[i]!);
      const mean = fr(sum / D);
      const scale = fr(1 / fr(Math.sqrt(fr(mean + epsF))));
      for (let i = 0; i < D; i++) {
        const y = fr(row[i]! * scale); // ggml_vec_scale_f32, then the separate ggml_mul by the weight
        o[r * D + i] = w ? y * w[i]! : y;
      }
    }
  }

  matmul(out: Tensor, x: Tensor, w: Tensor, bias?: Tensor | null): void {
    this.products('matmul', x, [{ w, out, bias }]);
  }

  matmulMany(x: Tensor, jobs: readonly MatmulJob[]): void {
    this.products('matmulMany', x, jobs);
  }

  private products(op: string, x: Tensor, jobs: readonly MatmulJob[]): void {
    const xs = this.f32(op, x, 'x');
    const K = last(x);
    const T = K > 0 ? xs.length / K : 0;
    // Validate every job before computing anything.
    const checked = jobs.map((j) => {
      const w = this.ref(op, j.w, 'w');
      if (w.shape.length !== 2) throw new Error(`${op}: w ${desc(w)} must be 2-D [N, K]`);
      const [N, Kw] = w.shape as [number, number];
      if (Kw !== K) throw new Error(`${op}: x ${desc(x)} does not match w ${desc(w)}`);
      const o = this.f32(op, j.out, 'out');
      if (last(j.out) !== N || o.length !== T * N) throw new Error(`${op}: out ${desc(j.out)} does not match x ${desc(x)} . w ${desc(w)}^T`);
      let b: Float32Array | null = null;
      if (j.bias) {
        b = this.f32(op, j.bias, 'bias');
        if (b.length !== N) throw new Error(`${op}: bias ${desc(j.bias)} does not match w ${desc(w)}`);
      }
      const vdt = w.f32 ? GGMLType.F32 : vecDotType(w.type);
      return { w, N, o, b, vdt };
    });
    // Convert the input once per distinct dot-product type.
    const conv = new Map<GGMLType, Converted>();
    for (const c of checked) if (!conv.has(c.vdt)) conv.set(c.vdt, convertActivation(c.vdt, xs, T, K));
    for (const { w, N, o, b, vdt } of checked) {
      const xq = conv.get(vdt)!;
      const res = new Float32Array(T * N); // out may alias x: compute everything first
      const mins = w.type === GGMLType.Q4_1 || w.type === GGMLType.Q5_1;
      for (let n = 0; n < N; n++) {
        const wr = this.row(w, n, K);
        const m = mins ? blockMins(w, n, K) : null;
        for (let t = 0; t < T; t++) {
          const xo = t * K;
          let s = 0;
          for (let k = 0; k < K; k++) s += wr[k]! * xq.x[xo + k]!;
          if (m) {
            const corr = xq.q81!;
            for (let blk = 0; blk < m.length; blk++) s += m[blk]! * corr[t * m.length + blk]!;
          }
          // The product is stored as f32, then ggml_add adds the bias in f32.
          res[t * N + n] = b ? fr(s) + b[n]! : s;
        }
      }
      o.set(res);
    }
  }

  add(out: Tensor, a: Tensor, b: Tensor): void {
    this.binary('add', out, a, b, (p, q) => p + q);
  }

  mul(out: Tensor, a: Tensor, b: Tensor): void {
    this.binary('mul', out, a, b, (p, q) => p * q);
  }

  private binary(op: string, out: Tensor, a: Tensor, b: Tensor, f: (p: number, q: number) => number): void {
    const o = this.f32(op, out, 'out'), as = this.f32(op, a, 'a'), bs = this.f32(op, b, 'b');
    if (as.length !== bs.length || o.length !== as.length) {
      throw new Error(`${op}: sizes differ: out ${desc(out)}, a ${desc(a)}, b ${desc(b)}`);
    }
    const res = new Float32Array(o.length);
    for (let i = 0; i < res.length; i++) res[i] = f(as[i]!, bs[i]!); // one f32 rounding, as ggml
    o.set(res);
  }

  scale(out: Tensor, x: Tensor, s: number): void {
    const o = this.f32('scale', out, 'out'), xs = this.f32('scale', x, 'x');
    if (o.length !== xs.length) throw new Error(`scale: out ${desc(out)} and x ${desc(x)} differ in size`);
    if (typeof s !== 'number' || Number.isNaN(s)) throw new Error(`scale: invalid factor ${s}`);
    const sf = fr(s); // ggml_scale takes a float
    const res = new Float32Array(o.length);
    for (let i = 0; i < res.length; i++) res[i] = xs[i]! * sf;
    o.set(res);
  }

  swiglu(out: Tensor, gate: Tensor, up: Tensor): void {
    const op = 'swiglu';
    const o = this.f32(op, out, 'out'), g = this.f32(op, gate, 'gate'), u = this.f32(op, up, 'up');
    if (g.length !== u.length || o.length !== g.length) {
      throw new Error(`${op}: sizes differ: out ${desc(out)}, gate ${desc(gate)}, up ${desc(up)}`);
    }
    const res = new Float32Array(o.length);
    for (let i = 0; i < res.length; i++) {
      const z = g[i]!;
      res[i] = fr(z / (1 + Math.exp(-z))) * u[i]!; // silu stored in f32, then times up in f32
    }
    o.set(res);
  }

  rope(x: Tensor, positions: Int32Array, spec: RopeSpec): void {
    const op = 'rope';
    const xs = this.f32(op, x, 'x');
    const { headDim, offset, nDims, mode, invFreq, mscale } = spec;
    if (!Number.isInteger(headDim) || headDim < 1) throw new Error(`${op}: invalid headDim ${headDim}`);
    if (!Number.isInteger(nDims) || nDims < 2 || nDims % 2 !== 0) throw new Error(`${op}: nDims ${nDims} must be a positive even integer`);
    if (!(invFreq instanceof Float32Array) || invFreq.length * 2 !== nDims) {
      throw new Error(`${op}: invFreq has ${invFreq?.length} entries, nDims ${nDims} needs ${nDims / 2}`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + nDims > headDim) {
      throw new Error(`${op}: rotated range [${offset}, ${offset + nDims}) does not fit in a head of ${headDim}`);
    }
    if (mode !== 'norm' && mode !== 'neox') throw new Error(`${op}: unknown mode ${String(mode)}`);
    if (!Number.isFinite(mscale)) throw new Error(`${op}: invalid mscale ${mscale}`);
    const T = positions.length;
    if (T < 1 || xs.length % T !== 0) throw new Error(`${op}: x ${desc(x)} does not hold ${T} rows`);
    const rowLen = xs.length / T;
    if (rowLen % headDim !== 0 || last(x) % headDim !== 0 || (x.shape.length > 1 && x.shape[0] !== T)) {
      throw new Error(`${op}: x ${desc(x)} is not [${T}, heads, ${headDim}]`);
    }
    const half = nDims / 2;
    // Element distance between the two members of a pair, and distance between pair starts.
    const [pairGap, pairStep] = mode === 'norm' ? [1, 2] : [half, 1];
    const cos = new Float64Array(half), sin = new Float64Array(half);
    for (let t = 0; t < T; t++) {
      const p = positions[t]!;
      for (let i = 0; i < half; i++) {
        const theta = p * invFreq[i]!;
        cos[i] = Math.cos(theta) * mscale;
        sin[i] = Math.sin(theta) * mscale;
      }
      for (let h0 = t * rowLen; h0 < (t + 1) * rowLen; h0 += headDim) {
        for (let i = 0; i < half; i++) {
          const a = h0 + offset + i * pairStep, b = a + pairGap;
          const x0 = xs[a]!, x1 = xs[b]!;
          xs[a] = x0 * cos[i]! - x1 * sin[i]!;
          xs[b] = x0 * sin[i]! + x1 * cos[i]!;
        }
      }
    }
  }

  attention(out: Tensor, q: Tensor, k: Tensor, v: Tensor, positions: Int32Array, spec: AttentionSpec): void {
    const op = 'attention';
    const { nHead: H, nKvHead: Hkv, headDimK: dk, headDimV: dv, scale } = spec;
    for (const [n, val] of [['nHead', H], ['nKvHead', Hkv], ['headDimK', dk], ['headDimV', dv]] as const) {
      if (!Number.isInteger(val) || val < 1) throw new Error(`${op}: invalid ${n} ${val}`);
    }
    if (H % Hkv !== 0) throw new Error(`${op}: nHead ${H} is not a multiple of nKvHead ${Hkv}`);
    if (!Number.isFinite(scale)) throw new Error(`${op}: invalid scale ${scale}`);
    const qs = this.f32(op, q, 'q'), ks = this.f32(op, k, 'k'), vs = this.f32(op, v, 'v'), o = this.f32(op, out, 'out');
    const T = positions.length;
    const rowsOk = (t: Tensor, rows: number, width: number) => t.size === rows * width && (t.shape.length < 2 || t.shape[0] === rows);
    if (!rowsOk(q, T, H * dk)) throw new Error(`${op}: q ${desc(q)} is not [${T}, ${H}, ${dk}]`);
    if (!rowsOk(out, T, H * dv)) throw new Error(`${op}: out ${desc(out)} is not [${T}, ${H}, ${dv}]`);
    // head-major caches: [Hkv, S, d] (each KV head's rows contiguous); otherwise [S, Hkv, d]
    const headMajor = spec.headMajor === true;
    const S = Math.floor(k.size / (Hkv * dk));
    const kvOk = (t: Tensor, width: number) => t.size === S * Hkv * width &&
      (headMajor ? t.shape.length < 3 || (t.shape[0] === Hkv && t.shape[1] === S) : t.shape.length < 2 || t.shape[0] === S);
    const kvShape = (width: number) => (headMajor ? `[${Hkv}, S, ${width}]` : `[S, ${Hkv}, ${width}]`);
    if (!kvOk(k, dk)) throw new Error(`${op}: k ${desc(k)} is not ${kvShape(dk)}`);
    // MLA: values are the first dv elements of each key row (row stride dk, v ignored).
    const vFromK = spec.vFromK === true;
    if (vFromK && dv > dk) throw new Error(`${op}: vFromK needs headDimV ${dv} <= headDimK ${dk}`);
    if (!vFromK && !kvOk(v, dv)) throw new Error(`${op}: v ${desc(v)} is not ${kvShape(dv)} (k has ${S} positions)`);
    const vsrc = vFromK ? ks : vs, vHead = vFromK ? dk : dv;
    // element offset of position j of KV head g in a cache of row width w
    const at = (j: number, g: number, w: number) => (headMajor ? (g * S + j) * w : (j * Hkv + g) * w);
    for (let t = 0; t < T; t++) {
      const p = positions[t]!;
      if (!Number.isInteger(p) || p < 0 || p >= S) throw new Error(`${op}: position ${p} is outside the cache of ${S} rows`);
    }
    const group = H / Hkv;
    const res = new Float32Array(T * H * dv);
    const acc = new Float64Array(dv);
    for (let t = 0; t < T; t++) {
      const n = positions[t]! + 1; // causal: cache rows 0..p
      const sc = new Float64Array(n);
      for (let h = 0; h < H; h++) {
        const kh = Math.floor(h / group);
        const qo = (t * H + h) * dk;
        let mx = -Infinity;
        for (let j = 0; j < n; j++) {
          const ko = at(j, kh, dk);
          let s = 0;
          for (let d = 0; d < dk; d++) s += qs[qo + d]! * ks[ko + d]!;
          sc[j] = s * scale;
          if (sc[j]! > mx) mx = sc[j]!;
        }
        let sum = 0;
        for (let j = 0; j < n; j++) { sc[j] = Math.exp(sc[j]! - mx); sum += sc[j]!; }
        acc.fill(0);
        for (let j = 0; j < n; j++) {
          const vo = at(j, kh, vHead), pj = sc[j]! / sum;
          for (let d = 0; d < dv; d++) acc[d] += pj * vsrc[vo + d]!;
        }
        res.set(acc, (t * H + h) * dv);
      }
    }
    o.set(res);
  }

  // ---- MLA / MoE ops -----------------------------------------------------------------------------

  matmulHeads(out: Tensor, x: Tensor, w: Tensor, opts?: { readonly xOffset?: number; readonly outOffset?: number }): void {
    const op = 'matmulHeads';
    const xs = this.f32(op, x, 'x'), o = this.f32(op, out, 'out');
    const wt = this.ref(op, w, 'w');
    const g = headsGeometry(op, x, w, out, opts);
    const { H, N, K, T, Kx, No, xOff, oOff } = g;
    const vdt = wt.f32 ? GGMLType.F32 : vecDotType(wt.type);
    const mins = wt.type === GGMLType.Q4_1 || wt.type === GGMLType.Q5_1;
    const res = new Float32Array(T * H * N); // out may alias x: compute everything first
    const xh = new Float32Array(T * K);
    for (let h = 0; h < H; h++) {
      // gather head h's activation rows [T, K] and convert them exactly as matmul does
      for (let t = 0; t < T; t++) xh.set(xs.subarray((t * H + h) * Kx + xOff, (t * H + h) * Kx + xOff + K), t * K);
      const xq = convertActivation(vdt, xh, T, K);
      for (let n = 0; n < N; n++) {
        const r = h * N + n; // row of the [H * N, K] weight stream
        const wr = this.row(wt, r, K);
        const m = mins ? blockMins(wt, r, K) : null;
        for (let t = 0; t < T; t++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += wr[k]! * xq.x[t * K + k]!;
          if (m) for (let blk = 0; blk < m.length; blk++) s += m[blk]! * xq.q81![t * m.length + blk]!;
          res[(t * H + h) * N + n] = s;
        }
      }
    }
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) o.set(res.subarray((t * H + h) * N, (t * H + h + 1) * N), (t * H + h) * No + oOff);
    }
  }

  gatherRows(out: Tensor, src: Tensor, rows: Int32Array): void {
    const op = 'gatherRows';
    const o = this.f32(op, out, 'out'), s = this.f32(op, src, 'src');
    const D = rowsGeometry(op, out, src, rows, rows.length, 'out');
    const res = new Float32Array(rows.length * D); // out may alias src
    for (let i = 0; i < rows.length; i++) res.set(s.subarray(rows[i]! * D, (rows[i]! + 1) * D), i * D);
    o.set(res);
  }

  scatterAddRows(out: Tensor, src: Tensor, rows: Int32Array, scales: Float32Array): void {
    const op = 'scatterAddRows';
    const o = this.f32(op, out, 'out'), s = this.f32(op, src, 'src');
    if (!(scales instanceof Float32Array) || scales.length !== rows.length) {
      throw new Error(`${op}: ${scales?.length} scales for ${rows.length} rows (src ${desc(src)})`);
    }
    const D = rowsGeometry(op, src, out, rows, rows.length, 'src');
    // In row order: each product rounds to f32 (ggml_mul), then each add rounds to f32 (ggml_add).
    for (let i = 0; i < rows.length; i++) {
      const so = i * D, oo = rows[i]! * D, sc = scales[i]!;
      for (let d = 0; d < D; d++) o[oo + d] = o[oo + d]! + fr(sc * s[so + d]!);
    }
  }

  copyCols(dst: Tensor, dstCol: number, src: Tensor, srcCol: number, nCols: number): void {
    const op = 'copyCols';
    const d = this.f32(op, dst, 'dst'), s = this.f32(op, src, 'src');
    const { rows, Dd, Ds } = colsGeometry(op, dst, dstCol, src, srcCol, nCols);
    for (let t = 0; t < rows; t++) d.set(s.slice(t * Ds + srcCol, t * Ds + srcCol + nCols), t * Dd + dstCol);
  }

  memoryBytes(): number {
    let n = 0;
    for (const t of this.live) n += t.byteLength;
    return n;
  }

  dispose(): void {
    for (const t of this.live) t.markFreed();
    this.live.clear();
  }
}

/** An activation converted to a dot-product type and decoded back to f32. */
interface Converted {
  /** [T, K] decoded values. */
  readonly x: Float32Array;
  /** Q8_1 only: [T, K/32] per block s - fp16(d) * sum(q) (see q81Correction). */
  readonly q81: Float64Array | null;
}

function convertActivation(vdt: GGMLType, xs: Float32Array, T: number, K: number): Converted {
  if (vdt === GGMLType.F32) return { x: xs.slice(0, T * K), q81: null };
  const x = new Float32Array(T * K);
  const q81 = vdt === GGMLType.Q8_1 ? new Float64Array(T * (K / 32)) : null;
  for (let t = 0; t < T; t++) {
    const bytes = quantizeActivation(vdt, xs.subarray(t * K, (t + 1) * K));
    dequantize(vdt, bytes, K, x.subarray(t * K, (t + 1) * K));
    if (q81) q81Correction(bytes, K / 32, q81, t * (K / 32));
  }
  return { x, q81 };
}

/**
 * llama.cpp's Q4_1/Q5_1 x Q8_1 kernels compute per block d_x*d_y*sum(q_x q_y) + m_x*s_y, where
 * s_y is the Q8_1 block's stored fp16(d_f32 * sum q_y). Dotting the decoded rows instead gives
 * m_x * fp16(d_y) * sum q_y for the min term, so we add m_x * (s_y - fp16(d_y) * sum q_y).
 * block_q8_1 { half d; half s; i8 qs[32] } (36 bytes).
 */
function q81Correction(b: Uint8Array, nb: number, out: Float64Array, at: number): void {
  for (let i = 0; i < nb; i++) {
    const o = i * 36;
    const d = fp16ToF32(b[o]! | (b[o + 1]! << 8)), s = fp16ToF32(b[o + 2]! | (b[o + 3]! << 8));
    let sum = 0;
    for (let j = 0; j < 32; j++) sum += (b[o + 4 + j]! << 24) >> 24;
    out[at + i] = s - d * sum;
  }
}

/** Per-block min m (fp16 at byte 2 of block_q4_1 / block_q5_1) of weight row n. */
function blockMins(w: RefTensor, n: number, K: number): Float64Array {
  const tr = typeTraits(w.type)!;
  const nb = K / tr.blockSize, base = n * nb * tr.typeSize;
  const m = new Float64Array(nb);
  for (let i = 0; i < nb; i++) {
    const o = base + i * tr.typeSize + 2;
    m[i] = fp16ToF32(w.bytes![o]! | (w.bytes![o + 1]! << 8));
  }
  return m;
}


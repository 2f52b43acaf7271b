/**
 * The op vocabulary: what model code may ask a backend to compute.
 *
 * Model files (src/models, src/nn) program against `Backend` only; they never import a concrete
 * backend. Two implementations exist: `ReferenceBackend` (src/ops/reference.ts, plain scalar
 * TypeScript, the specification) and the WebAssembly CPU backend (src/backends/wasm). Kernel parity
 * tests run every op on both and compare.
 *
 * Shapes are outermost-first: an activation of shape [T, D] holds T rows of D contiguous f32.
 * Weights keep the GGUF block layout: a weight of shape [N, K] holds N rows, each row K elements
 * encoded in `type` (K must be a multiple of the type's block size).
 *
 * Numerics follow llama.cpp's CPU backend so that results can be compared with it: before a matrix
 * product the activation row is converted to the weight's dot-product type (`vecDotType` in
 * formats/ggml-types.ts: F16 -> f16, BF16 -> bf16, Q4_0/Q5_0/Q8_0/IQ4_NL -> Q8_0 blocks of 32,
 * Q4_1/Q5_1 -> Q8_1, K-quants/IQ4_XS -> Q8_K blocks of 256) and the product is taken against that.
 */
import type { GGMLType } from '../formats/ggml-types.js';

export interface Tensor {
  /** Outermost first. */
  readonly shape: readonly number[];
  /** GGMLType.F32 for activations and caches; any supported weight type for weights. */
  readonly type: GGMLType;
  /** Number of elements (product of shape). */
  readonly size: number;
  /** Name given at creation (weights: GGUF tensor name), for error messages. */
  readonly name: string;
}

/**
 * Rotary embedding, already reduced by nn/rope.ts to per-pair frequencies: for pair i the angle
 * at position p is p * invFreq[i] (this absorbs base, linear scaling, llama3 factors and YaRN
 * ramp mixing, all of which are linear in p), and both rotated values are multiplied by `mscale`.
 */
export interface RopeSpec {
  /** Elements per head in the tensor's last dimension. */
  readonly headDim: number;
  /** First rotated element inside each head (0 for most models; MLA ropes the tail). */
  readonly offset: number;
  /** Number of rotated elements (= 2 * invFreq.length). */
  readonly nDims: number;
  /** 'norm': pairs (x[2i], x[2i+1]) (GGUF llama, DeepSeek MLA); 'neox': pairs (x[i], x[i+nDims/2]) (Qwen2). */
  readonly mode: 'norm' | 'neox';
  readonly invFreq: Float32Array;
  readonly mscale: number;
}

export interface AttentionSpec {
  /** Query heads and key/value heads (GQA: head h reads kv head floor(h / (nHead / nKvHead))). */
  readonly nHead: number;
  readonly nKvHead: number;
  /** Key (= query) and value head sizes. */
  readonly headDimK: number;
  readonly headDimV: number;
  /** Multiplier applied to q.k before the softmax. */
  readonly scale: number;
  /**
   * MLA latent cache: values are the first headDimV elements of each key row (`v` is ignored and
   * may be the same tensor as `k`). Requires headDimV <= headDimK.
   */
  readonly vFromK?: boolean;
  /**
   * Cache layout. Absent / false: k [S, nKvHead, headDimK] and v [S, nKvHead, headDimV], a row
   * per position. True: k [nKvHead, S, headDimK] and v [nKvHead, S, headDimV], each KV head's
   * rows contiguous (a decode step then streams one block per KV head; nn/kv-cache.ts).
   */
  readonly headMajor?: boolean;
}

export interface MatmulJob {
  /** [N, K] weight. */
  readonly w: Tensor;
  /** [T, N] output. */
  readonly out: Tensor;
  /** Optional [N] f32 bias added to every output row. */
  readonly bias?: Tensor | null;
}

export interface Backend {
  readonly name: string;
  /** Threads used by compute ops (1 = no helpers). */
  readonly threads: number;

  // ---- memory -------------------------------------------------------------------------------
  /** New F32 tensor; contents are zero. */
  allocF32(shape: readonly number[], name?: string): Tensor;
  /**
   * New weight tensor in ggml block layout. `fill` receives a writable byte view of exactly the
   * tensor's byte length (e.g. a view into wasm memory) and must fill all of it (e.g. fs.readSync).
   */
  createWeight(name: string, type: GGMLType, shape: readonly number[], fill: (dst: Uint8Array) => void): Tensor;
  /** Release a tensor created by allocF32/createWeight (views must not be freed). */
  free(t: Tensor): void;
  /**
   * View of `shape` starting `offset` elements into `t` (contiguous, no copy). For quantized
   * tensors offset and the innermost size must be multiples of the row length.
   */
  view(t: Tensor, offset: number, shape: readonly number[]): Tensor;
  /** Copy host f32 data into an F32 tensor at element offset. */
  write(t: Tensor, data: Float32Array, offset?: number): void;
  /** Copy `count` elements (default: all) of an F32 tensor out, starting at element offset. */
  read(t: Tensor, offset?: number, count?: number): Float32Array;
  /** Copy src (F32) into dst (F32) element range; shapes need not match, sizes must. */
  copy(dst: Tensor, src: Tensor): void;

  // ---- ops (all write into a preallocated `out`; out may alias an input where noted) ---------
  /** out[t, :] = dequant(table[ids[t], :]); table is [V, D] of any supported type, out [T, D] F32. */
  getRows(out: Tensor, table: Tensor, ids: Int32Array): void;
  /** out = x / sqrt(mean(x^2) + eps) * weight, per row of the last dimension. out may alias x. */
  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, eps: number): void;
  /** out[T, N] = x[T, K] . w[N, K]^T (+ bias), with llama.cpp's activation conversion (see top). */
  matmul(out: Tensor, x: Tensor, w: Tensor, bias?: Tensor | null): void;
  /** Several products of the same input (q/k/v, gate/up): the input is converted once. */
  matmulMany(x: Tensor, jobs: readonly MatmulJob[]): void;
  /** out = a + b (same sizes). out may alias a or b. */
  add(out: Tensor, a: Tensor, b: Tensor): void;
  /** out = a * b (same sizes). out may alias a or b. */
  mul(out: Tensor, a: Tensor, b: Tensor): void;
  /** out = x * s. out may alias x. */
  scale(out: Tensor, x: Tensor, s: number): void;
  /** out = silu(gate) * up, silu(z) = z / (1 + exp(-z)). out may alias gate or up. */
  swiglu(out: Tensor, gate: Tensor, up: Tensor): void;
  /** In place on x [T, H, headDim]: rotate each head of row t by position positions[t]. */
  rope(x: Tensor, positions: Int32Array, spec: RopeSpec): void;
  /**
   * Causal attention over a cache. q [T, nHead, headDimK]; k [S, nKvHead, headDimK];
   * v [S, nKvHead, headDimV]; out [T, nHead, headDimV]. Query t attends cache rows
   * 0..positions[t] inclusive (row index = position), softmax(scale * q.k) weighted sum of v.
   */
  attention(out: Tensor, q: Tensor, k: Tensor, v: Tensor, positions: Int32Array, spec: AttentionSpec): void;

  /** Run every kernel briefly so that no long first call runs in an unoptimized tier (optional). */
  warmup?(): void;
  /** Bytes currently held by this backend's memory (weights, caches, scratch), for reporting. */
  memoryBytes?(): number;
  // ---- ops for MLA and mixture-of-experts models ---------------------------------------------
  /**
   * Per-head products: for every token t and head h,
   *   out[t, h, outOffset : outOffset + N] = w[h] . x[t, h, xOffset : xOffset + K]
   * x is [T, H, Kx] F32 (K + xOffset <= Kx), w is [H, N, K] in any supported weight type (H
   * matrices of N rows), out is [T, H, No] F32 (N + outOffset <= No). Activation conversion as in
   * `matmul`. Used by absorbed MLA (attn_k_b, attn_v_b).
   */
  matmulHeads(out: Tensor, x: Tensor, w: Tensor, opts?: { readonly xOffset?: number; readonly outOffset?: number }): void;
  /** out[i, :] = src[rows[i], :] for 2-D F32 tensors (gather tokens routed to one expert). */
  gatherRows(out: Tensor, src: Tensor, rows: Int32Array): void;
  /** out[rows[i], :] += scales[i] * src[i, :] for 2-D F32 tensors (combine expert outputs). */
  scatterAddRows(out: Tensor, src: Tensor, rows: Int32Array, scales: Float32Array): void;
  /** dst[t, dstCol + j] = src[t, srcCol + j] for j < nCols and every row t of 2-D F32 tensors. */
  copyCols(dst: Tensor, dstCol: number, src: Tensor, srcCol: number, nCols: number): void;

  /** Stop helper threads and release memory. */
  dispose(): Promise<void> | void;
}

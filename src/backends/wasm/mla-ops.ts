/**
 * The wasm backend's ops for MLA and mixture-of-experts models: matmulHeads (per-head products of
 * absorbed MLA), gatherRows / scatterAddRows (route tokens to experts and back) and copyCols.
 *
 * Kept apart from backend.ts, which hands in a small context of its internals (arenas, pool,
 * scratch, activation conversion). Tensors arrive validated (owner, F32-ness, output in arena 0);
 * shapes are checked here with ops/geometry.ts, the same checks the reference backend makes.
 *
 * matmulHeads reuses the mm_<type> kernels unchanged: per group of up to MAX_MM_JOBS heads, the
 * strided head rows x[t, h, xOff : xOff + K] are gathered into a contiguous scratch [G, T, K]
 * (head-major), converted in one quant_* call ([G * T] rows), multiplied by one threaded MATMUL
 * job with one sub-job per head (w[h] is the contiguous [N, K] block at h * N * rowBytes), and the
 * [G, T, N] products are scattered into out[t, h, oOff : oOff + N].
 */
import { GGMLType, rowBytes, vecDotType } from '../../formats/ggml-types.js';
import { colsGeometry, headsGeometry, rowsGeometry } from '../../ops/geometry.js';
import { align, type Arena } from './arena.js';
import { CTL, MAX_MM_JOBS, MM_STRIDE, Op } from './jobs.js';
import type { WasmTensor } from './tensor.js';

/** What the ops need of WasmBackend (closures over its private state). */
export interface OpsContext {
  arena(i: number): Arena;
  readonly threads: number;
  /** Control block words (ARGS at CTL.ARGS). */
  readonly ctl: Int32Array;
  exec(op: Op, chunks: number, parallel: boolean): void;
  /** Reusable scratch in an arena, -1 when it does not fit. */
  tryScratch(arena: number, key: string, bytes: number): number;
  /** x [T, K] f32 at xp (arena 0) -> [T, rowBytes(vdt, K)] at outp (arena 0). */
  quantize(vdt: GGMLType, xp: number, outp: number, K: number, T: number): void;
  copyBytes(dArena: number, dPtr: number, sArena: number, sPtr: number, n: number): void;
}

/** A matmul chunk should carry at least this many weight bytes x tokens of work (as backend.ts). */
const MIN_CHUNK_BYTES = 32 * 1024;
/** Chunk boundaries are multiples of this many rows (kernels may group rows). */
const ROW_ALIGN = 16;

export function matmulHeads(ctx: OpsContext, o: WasmTensor, x: WasmTensor, w: WasmTensor,
                            opts?: { readonly xOffset?: number; readonly outOffset?: number }): void {
  const { H, N, K, T, Kx, No, xOff, oOff } = headsGeometry('matmulHeads', x, w, o, opts);
  const vdt = vecDotType(w.type);
  const rbq = vdt === GGMLType.F32 ? K * 4 : rowBytes(vdt, K); // converted activation row
  const rbw = rowBytes(w.type, K); // weight row
  const wa = w.arena;
  // Heads per group: at most one MATMUL job's sub-jobs; halved until the scratch fits.
  let G = Math.min(H, MAX_MM_JOBS);
  let xs = -1, xq = -1, far = -1;
  for (;;) {
    const xsBytes = align(G * T * K * 4), xqBytes = vdt === GGMLType.F32 ? 0 : align(G * T * rbq);
    const yBytes = align(G * T * N * 4);
    // arena 0: gathered f32 rows, converted rows, and (near weights) the products
    xs = ctx.tryScratch(0, 'heads', xsBytes + xqBytes + (wa === 0 ? yBytes : 0));
    // a far weight's arena: a copy of the converted rows and the products
    far = xs >= 0 && wa !== 0 ? ctx.tryScratch(wa, 'heads', align(G * T * rbq) + yBytes) : 0;
    if (xs >= 0 && far >= 0) { xq = vdt === GGMLType.F32 ? xs : xs + xsBytes; break; }
    if (G === 1) throw new Error(`matmulHeads: no scratch room for ${T} tokens of weight ${w.name}`);
    G = Math.ceil(G / 2);
  }
  const a0 = ctx.arena(0);
  // out may alias x: a later group's gather would then read products of an earlier group, so
  // such an x is read from a snapshot (never the case in model code)
  const overlap = x.arena === 0 && x.ptr < o.ptr + o.bytes && o.ptr < x.ptr + x.bytes;
  const snap = overlap ? a0.f32.slice(x.ptr >>> 2, (x.ptr >>> 2) + x.size) : null;
  for (let h0 = 0; h0 < H; h0 += G) {
    const g = Math.min(G, H - h0);
    // 1. gather [g, T, K] head-major (views re-read: scratch allocation may have grown memory)
    const xf = snap ?? ctx.arena(x.arena).f32, xb = snap ? 0 : x.ptr >>> 2, sf = a0.f32;
    for (let i = 0; i < g; i++) {
      for (let t = 0; t < T; t++) {
        const src = xb + (t * H + h0 + i) * Kx + xOff;
        const dst = (xs >>> 2) + (i * T + t) * K;
        if (xf === sf) sf.copyWithin(dst, src, src + K);
        else sf.set(xf.subarray(src, src + K), dst);
      }
    }
    // 2. convert all g * T rows at once
    if (vdt !== GGMLType.F32) ctx.quantize(vdt, xs, xq, K, g * T);
    let xin = xq, y: number;
    if (wa === 0) {
      y = xs + align(G * T * K * 4) + (vdt === GGMLType.F32 ? 0 : align(G * T * rbq));
    } else {
      ctx.copyBytes(wa, far, 0, xq, g * T * rbq);
      xin = far;
      y = far + align(G * T * rbq);
    }
    // 3. one MATMUL job, sub-job i = head h0 + i: w rows [N, K], input [T] rows, output [T, N]
    const work = g * N * rbw * T;
    const parallel = ctx.threads > 1 && work >= 2 * MIN_CHUNK_BYTES;
    let rpc = N;
    if (parallel) {
      const want = Math.max(Math.ceil((g * N) / (4 * ctx.threads)) , Math.ceil(MIN_CHUNK_BYTES / (rbw * T)));
      rpc = Math.min(N, Math.ceil(want / ROW_ALIGN) * ROW_ALIGN);
    }
    const c = ctx.ctl, A = CTL.ARGS;
    c[A] = g;
    let chunks = 0;
    for (let i = 0; i < g; i++) {
      const b = A + 1 + i * MM_STRIDE;
      c[b] = wa; c[b + 1] = w.kernelType; c[b + 2] = w.ptr + (h0 + i) * N * rbw;
      c[b + 3] = xin + i * T * rbq; c[b + 4] = y + i * T * N * 4;
      c[b + 5] = K; c[b + 6] = N; c[b + 7] = T; c[b + 8] = rpc; c[b + 9] = chunks;
      chunks += Math.ceil(N / rpc);
    }
    ctx.exec(Op.MATMUL, chunks, parallel);
    // 4. scatter [g, T, N] -> out[t, h0 + i, oOff : oOff + N]
    const yf = ctx.arena(wa).f32, of = a0.f32;
    for (let i = 0; i < g; i++) {
      for (let t = 0; t < T; t++) {
        const src = (y >>> 2) + (i * T + t) * N;
        const dst = (o.ptr >>> 2) + (t * H + h0 + i) * No + oOff;
        if (wa === 0) of.copyWithin(dst, src, src + N);
        else of.set(yf.subarray(src, src + N), dst);
      }
    }
  }
}

/** out[i, :] = src[rows[i], :]; out in arena 0, src anywhere. */
export function gatherRows(ctx: OpsContext, o: WasmTensor, s: WasmTensor, rows: Int32Array): void {
  const D = rowsGeometry('gatherRows', o, s, rows, rows.length, 'out');
  const of = ctx.arena(0).f32, sf = ctx.arena(s.arena).f32;
  const sameMem = s.arena === 0;
  const sp = s.ptr >>> 2, op = o.ptr >>> 2;
  // out may alias src: read everything first when they overlap
  const overlap = sameMem && sp < op + o.size && op < sp + s.size;
  const src = overlap ? sf.slice(sp, sp + s.size) : sf.subarray(sp, sp + s.size);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]! * D;
    of.set(src.subarray(r, r + D), op + i * D);
  }
}

/** out[rows[i], :] += scales[i] * src[i, :] in row order (f32 product, then f32 sum, as ggml). */
export function scatterAddRows(ctx: OpsContext, o: WasmTensor, s: WasmTensor, rows: Int32Array, scales: Float32Array): void {
  if (!(scales instanceof Float32Array) || scales.length !== rows.length) {
    throw new Error(`scatterAddRows: ${scales?.length} scales for ${rows.length} rows (src ${s.name})`);
  }
  const D = rowsGeometry('scatterAddRows', s, o, rows, rows.length, 'src');
  const of = ctx.arena(0).f32, sf = ctx.arena(s.arena).f32;
  const op = o.ptr >>> 2, sp = s.ptr >>> 2;
  const fr = Math.fround;
  for (let i = 0; i < rows.length; i++) {
    const oo = op + rows[i]! * D, so = sp + i * D, sc = scales[i]!;
    for (let d = 0; d < D; d++) of[oo + d] = of[oo + d]! + fr(sc * sf[so + d]!);
  }
}

/** dst[t, dstCol + j] = src[t, srcCol + j]; dst in arena 0. */
export function copyCols(ctx: OpsContext, d: WasmTensor, dstCol: number, s: WasmTensor, srcCol: number, nCols: number): void {
  const { rows, Dd, Ds } = colsGeometry('copyCols', d, dstCol, s, srcCol, nCols);
  if (nCols === 0) return;
  const df = ctx.arena(0).f32, sf = ctx.arena(s.arena).f32;
  const dp = d.ptr >>> 2, sp = s.ptr >>> 2;
  // rows in order; copyWithin/set copy each row correctly even when dst and src overlap
  for (let t = 0; t < rows; t++) {
    const a = sp + t * Ds + srcCol;
    if (s.arena === 0) df.copyWithin(dp + t * Dd + dstCol, a, a + nCols);
    else df.set(sf.subarray(a, a + nCols), dp + t * Dd + dstCol);
  }
}

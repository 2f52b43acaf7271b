/**
 * Shape checks shared by both backends for the MLA / MoE ops (matmulHeads, gatherRows,
 * scatterAddRows, copyCols), so that both reject the same inputs with the same messages.
 */
import type { Tensor } from './types.js';

function desc(t: Tensor): string {
  return `${t.name} [${t.shape.join(', ')}]`;
}

function last(t: Tensor): number {
  return t.shape.length ? t.shape[t.shape.length - 1]! : 1;
}

/** Validated geometry of matmulHeads: x [T, H, Kx], w [H, N, K], out [T, H, No]. */
export interface HeadsGeometry { H: number; N: number; K: number; T: number; Kx: number; No: number; xOff: number; oOff: number }

export function headsGeometry(op: string, x: Tensor, w: Tensor, out: Tensor,
                              opts?: { readonly xOffset?: number; readonly outOffset?: number }): HeadsGeometry {
  if (w.shape.length !== 3) throw new Error(`${op}: w ${desc(w)} must be 3-D [H, N, K]`);
  const [H, N, K] = w.shape as [number, number, number];
  const xOff = opts?.xOffset ?? 0, oOff = opts?.outOffset ?? 0;
  const Kx = last(x), No = last(out);
  if (!Number.isInteger(xOff) || xOff < 0 || xOff + K > Kx) {
    throw new Error(`${op}: x ${desc(x)}: columns [${xOff}, ${xOff + K}) for w ${desc(w)} do not fit in rows of ${Kx}`);
  }
  if (!Number.isInteger(oOff) || oOff < 0 || oOff + N > No) {
    throw new Error(`${op}: out ${desc(out)}: columns [${oOff}, ${oOff + N}) for w ${desc(w)} do not fit in rows of ${No}`);
  }
  const T = x.size / (H * Kx);
  const headsOk = (t: Tensor) => t.shape.length < 3 || (t.shape[t.shape.length - 2] === H && t.shape[0] === T);
  if (!Number.isInteger(T) || !headsOk(x)) throw new Error(`${op}: x ${desc(x)} is not [T, ${H}, ${Kx}] for w ${desc(w)}`);
  if (out.size !== T * H * No || !headsOk(out)) throw new Error(`${op}: out ${desc(out)} is not [${T}, ${H}, ${No}] (x ${desc(x)}, w ${desc(w)})`);
  return { H, N, K, T, Kx, No, xOff, oOff };
}

/** Checks rows (indices into `indexed`, a 2-D [R, D] tensor) against the dense 2-D [n, D] tensor; returns D. */
export function rowsGeometry(op: string, dense: Tensor, indexed: Tensor, rows: Int32Array, n: number, what: string): number {
  if (!(rows instanceof Int32Array)) throw new Error(`${op}: rows must be an Int32Array`);
  if (dense.shape.length !== 2 || indexed.shape.length !== 2) {
    throw new Error(`${op}: ${desc(dense)} and ${desc(indexed)} must be 2-D`);
  }
  const D = dense.shape[1]!, R = indexed.shape[0]!;
  if (indexed.shape[1] !== D || dense.shape[0] !== n) {
    throw new Error(`${op}: ${what} ${desc(dense)} does not match ${n} rows of ${desc(indexed)}`);
  }
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    if (!(r >= 0 && r < R)) throw new Error(`${op}: row ${r} is outside ${desc(indexed)}`);
  }
  return D;
}

/** Checks a column copy between 2-D tensors with the same row count. */
export function colsGeometry(op: string, dst: Tensor, dstCol: number, src: Tensor, srcCol: number, nCols: number): { rows: number; Dd: number; Ds: number } {
  if (dst.shape.length !== 2 || src.shape.length !== 2) throw new Error(`${op}: dst ${desc(dst)} and src ${desc(src)} must be 2-D`);
  const [rows, Dd] = dst.shape as [number, number];
  const Ds = src.shape[1]!;
  if (src.shape[0] !== rows) throw new Error(`${op}: dst ${desc(dst)} and src ${desc(src)} differ in rows`);
  const bad = (c: number, D: number) => !Number.isInteger(c) || c < 0 || c + nCols > D;
  if (!Number.isInteger(nCols) || nCols < 0 || bad(dstCol, Dd) || bad(srcCol, Ds)) {
    throw new Error(`${op}: ${nCols} columns from ${srcCol} of src ${desc(src)} to ${dstCol} of dst ${desc(dst)} do not fit`);
  }
  return { rows, Dd, Ds };
}

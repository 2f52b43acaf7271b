/**
 * Tensors of the wasm backend: a byte range in one arena. Views share their root's storage and
 * are checked against use after the root was freed.
 */
import { GGMLType, typeName, typeTraits, rowBytes } from '../../formats/ggml-types.js';
import type { Tensor } from '../../ops/types.js';
import { X4_KIND } from './jobs.js';

export class WasmTensor implements Tensor {
  freed = false;
  private arena_: number;
  private ptr_: number;
  constructor(
    readonly backendId: number,
    readonly name: string,
    readonly type: GGMLType,
    readonly shape: readonly number[],
    readonly size: number,
    arena: number,
    ptr: number,
    /** Byte length. */
    readonly bytes: number,
    /** Root tensor for views, null for owners. */
    readonly root: WasmTensor | null,
    /** Views: byte offset from the root's start. */
    readonly byteOffset = 0,
  ) {
    this.arena_ = arena;
    this.ptr_ = ptr;
  }

  /** Arena index (0 holds activations and caches). Views follow their root when it moves. */
  get arena(): number { return this.root ? this.root.arena_ : this.arena_; }
  /** Byte offset in the arena's memory. */
  get ptr(): number { return this.root ? this.root.ptr_ + this.byteOffset : this.ptr_; }

  /** Record a new home for a root tensor (its bytes were copied there). */
  moveTo(arena: number, ptr: number): void {
    if (this.root) throw new Error(`cannot move view ${this.name}`);
    this.arena_ = arena;
    this.ptr_ = ptr;
  }

  private x4_ = false;
  /** Q4_0 weight repacked into the X4 layout of as/matmul_x4.ts (views follow their root). */
  get x4(): boolean { return this.root ? this.root.x4_ : this.x4_; }
  set x4(v: boolean) {
    if (this.root) throw new Error(`cannot change the layout of view ${this.name}`);
    this.x4_ = v;
  }
  /** Type id the matmul job passes to JobRunner: the ggml type, with X4_KIND for repacked weights. */
  get kernelType(): number { return this.x4 ? this.type | X4_KIND : this.type; }

  /** Elements in the innermost dimension. */
  get inner(): number { return this.shape[this.shape.length - 1]!; }
}

/** Validate a shape and return its element count. */
export function shapeSize(shape: readonly number[], what: string): number {
  if (!Array.isArray(shape) || shape.length === 0) throw new Error(`${what}: shape must be a non-empty array, got ${JSON.stringify(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 1) throw new Error(`${what}: bad dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw new Error(`${what}: shape [${shape.join(', ')}] is too large`);
  }
  return n;
}

/** Byte length of `n` elements of `type` laid out as rows of `rowLen` elements. */
export function tensorBytes(type: GGMLType, n: number, rowLen: number, what: string): number {
  const tr = typeTraits(type);
  if (!tr) throw new Error(`${what}: unknown tensor type ${type}`);
  if (rowLen % tr.blockSize !== 0) {
    throw new Error(`${what}: row of ${rowLen} elements is not a multiple of ${typeName(type)} block size ${tr.blockSize}`);
  }
  return (n / rowLen) * rowBytes(type, rowLen);
}

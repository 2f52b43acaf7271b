/**
 * Loads a family's declared tensors from a GGUF file onto a backend.
 *
 * Everything is validated before the first byte is read (presence, shape, type), so a file with
 * an unsupported quant type fails in milliseconds with a clear message instead of after loading
 * gigabytes. Weights are read straight into backend memory (fs.readSync into the wasm view).
 */
import type { GGUFFile, GGUFTensorInfo } from '../formats/gguf.js';
import { readTensorData } from '../formats/gguf.js';
import { GGMLType, isSupportedWeightType, typeName } from '../formats/ggml-types.js';
import { dequantize } from '../ops/dequant.js';
import type { Backend, Tensor } from '../ops/types.js';
import type { TensorDecl } from './types.js';

export class Weights {
  constructor(private readonly map: Map<string, Tensor>, private readonly file: string) {}

  get(name: string): Tensor {
    const t = this.map.get(name);
    if (!t) throw new Error(`${this.file}: missing tensor ${name}`);
    return t;
  }

  opt(name: string): Tensor | null {
    return this.map.get(name) ?? null;
  }

  get size(): number {
    return this.map.size;
  }

  dispose(backend: Backend): void {
    for (const t of this.map.values()) backend.free(t);
    this.map.clear();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Check the declarations against the file; returns the infos to load. Throws on the first problem. */
export function checkTensors(file: GGUFFile, decls: readonly TensorDecl[]): Array<[TensorDecl, GGUFTensorInfo]> {
  const out: Array<[TensorDecl, GGUFTensorInfo]> = [];
  for (const d of decls) {
    const info = file.tensorMap.get(d.name);
    if (!info) {
      if (d.optional) continue;
      throw new Error(`${file.path}: missing tensor ${d.name} (expected shape [${d.shape.join(', ')}])`);
    }
    if (!sameShape(info.shape, d.shape)) {
      throw new Error(`${file.path}: tensor ${d.name} has shape [${info.shape.join(', ')}], expected [${d.shape.join(', ')}]`);
    }
    if (!isSupportedWeightType(info.type)) {
      throw new Error(`${file.path}: unsupported tensor type ${typeName(info.type)} in tensor ${d.name}`);
    }
    out.push([d, info]);
  }
  return out;
}

export function loadWeights(
  file: GGUFFile,
  backend: Backend,
  decls: readonly TensorDecl[],
  onProgress?: (loaded: number, total: number) => void,
): Weights {
  const plan = checkTensors(file, decls).filter(([d]) => !d.deferred);
  const total = plan.reduce((s, [, info]) => s + info.byteLength, 0);
  let loaded = 0;
  const map = new Map<string, Tensor>();
  try {
    for (const [d, info] of plan) {
      if (d.keepF32 && info.type !== GGMLType.F32) {
        const bytes = new Uint8Array(info.byteLength);
        readTensorData(info, bytes);
        const n = info.shape.reduce((a, b) => a * b, 1);
        const t = backend.allocF32(info.shape, d.name);
        backend.write(t, dequantize(info.type, bytes, n));
        map.set(d.name, t);
      } else {
        map.set(d.name, backend.createWeight(d.name, info.type, info.shape, (dst) => readTensorData(info, dst)));
      }
      loaded += info.byteLength;
      onProgress?.(loaded, total);
    }
  } catch (e) {
    for (const t of map.values()) backend.free(t);
    throw e;
  }
  return new Weights(map, file.path);
}

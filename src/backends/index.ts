/**
 * Backend registry: model and engine code ask for a backend by name and program against the
 * `Backend` interface only (ops/types.ts).
 */
import type { Backend } from '../ops/types.js';
import type { WasmBackendOptions } from './wasm/backend.js';

export type BackendName = 'wasm' | 'reference';
export const BACKEND_NAMES: readonly BackendName[] = ['wasm', 'reference'];

export interface BackendOptions extends WasmBackendOptions {
  /** Compute threads (wasm; the reference backend is single-threaded). */
  threads?: number;
}

export async function createBackend(name: BackendName, opts: BackendOptions = {}): Promise<Backend> {
  switch (name) {
    case 'wasm': {
      const { WasmBackend } = await import('./wasm/backend.js');
      return WasmBackend.create(opts);
    }
    case 'reference': {
      const { ReferenceBackend } = await import('../ops/reference.js');
      return new ReferenceBackend();
    }
    default:
      throw new Error(`unknown backend '${String(name)}'; available: ${BACKEND_NAMES.join(', ')}`);
  }
}

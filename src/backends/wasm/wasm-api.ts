/**
 * The slice of the WebAssembly JS API this backend uses, typed locally: the project compiles with
 * lib ES2022 and @types/node 20, neither of which declares the WebAssembly namespace, and a global
 * declaration here could clash with other files.
 */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(deltaPages: number): number;
}
/** Opaque compiled module (structured-cloneable to workers). */
export interface WasmModule { readonly __wasmModule?: never }
export interface WasmInstance { readonly exports: Record<string, unknown> }
export interface WasmImportDesc { readonly module: string; readonly name: string; readonly kind: string }
export type WasmImports = Record<string, Record<string, unknown>>;

interface WasmApi {
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(m: WasmModule): WasmImportDesc[];
    exports(m: WasmModule): { name: string; kind: string }[];
  };
  Instance: new (m: WasmModule, imports: WasmImports) => WasmInstance;
  LinkError: new (message?: string) => Error;
  compile(bytes: Uint8Array): Promise<WasmModule>;
}

export const WA: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * What a model family provides and what the engine gets back.
 *
 * A family (one file in src/models/) reads its typed, frozen config from GGUF metadata, declares
 * its weights by GGUF tensor name and shape, and implements the forward pass by composing nn/
 * blocks over the `Backend` op interface. Shared code reads what a family declares (cache layout,
 * bytes per token) and never branches on architecture names.
 */
import type { GGUFFile } from '../formats/gguf.js';
import type { GGUFMetaEntry } from '../formats/gguf-writer.js';
import type { Backend } from '../ops/types.js';

/** A tensor the family expects in the file: name and shape (outermost first). */
export interface TensorDecl {
  readonly name: string;
  readonly shape: readonly number[];
  /** Optional tensors may be absent (e.g. `output.weight` when tied to the embedding). */
  readonly optional?: boolean;
  /** 1-D tensors (norms, biases) are kept in F32 whatever the file stores. */
  readonly keepF32?: boolean;
  /** Checked like the others but not loaded: the family reads and converts it itself. */
  readonly deferred?: boolean;
}

export interface ModelInfo {
  readonly architecture: string;
  /** Human-readable family description, e.g. "Llama-style dense decoder". */
  readonly family: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nVocab: number;
  readonly contextLength: number;
  /** Parameters counted from the declared tensors. */
  readonly nParams: number;
  /** Bytes of KV cache per token of context (all layers) in the layout this engine uses. */
  readonly kvBytesPerToken: number;
  /** Extra key/value facts for `deepcard inspect` (heads, rope, ...). */
  readonly details: Readonly<Record<string, string | number | boolean>>;
}

/** The per-sequence state (KV cache) a model keeps between forward calls. */
export interface SequenceState {
  /** Number of positions already in the cache. */
  readonly length: number;
  /** Maximum positions the cache holds. */
  readonly capacity: number;
  /** Forget everything from position `n` on (n <= length). */
  truncate(n: number): void;
  /** Free the cache memory. */
  dispose(): void;
}

export interface ForwardOptions {
  /** Which rows' logits to return: none, only the last token's, or every token's. */
  readonly logits: 'none' | 'last' | 'all';
}

export interface BatchItem {
  readonly tokens: Int32Array;
  readonly state: SequenceState;
  readonly logits: 'none' | 'last' | 'all';
}

export interface Model {
  readonly info: ModelInfo;
  readonly backend: Backend;
  /** Largest number of tokens one forward call accepts (longer inputs are chunked by the caller). */
  readonly maxBatch: number;
  newSequence(capacity: number): SequenceState;
  /**
   * Evaluate `tokens` at positions state.length .. state.length + T - 1, append them to the cache,
   * and return logits: [T or 1, nVocab] row-major (empty when logits = 'none').
   */
  forward(tokens: Int32Array, state: SequenceState, opts: ForwardOptions): Float32Array;
  /**
   * Evaluate several sequences in one pass (continuous batching: each weight is read once for all
   * of them). Total tokens <= maxBatch; each state appears at most once. Returns each item's logits.
   */
  forwardBatch(items: ReadonlyArray<BatchItem>): Float32Array[];
  dispose(): void;
}

export interface LoadOptions {
  /** Tokens per forward call (prompt chunk size), default 512. */
  readonly maxBatch?: number;
  /** Progress callback: bytes of weights loaded so far out of total. */
  readonly onProgress?: (loadedBytes: number, totalBytes: number) => void;
}

export interface ModelFamily {
  /** `general.architecture` values this family handles (first is canonical). */
  readonly architectures: readonly string[];
  readonly description: string;
  /** Facts about the model from the file header alone (for `deepcard inspect`). */
  describe(file: GGUFFile): ModelInfo;
  load(file: GGUFFile, backend: Backend, opts: LoadOptions): Model;
}

/** A family that can also describe a synthetic model (for the fixture writer and benchmarks). */
export interface FixtureSpec {
  /** GGUF metadata entries (architecture hparams) for the config. */
  readonly metadata: GGUFMetaEntry[];
  readonly tensors: readonly TensorDecl[];
}

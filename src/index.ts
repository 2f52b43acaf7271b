/**
 * deepcard package root: the engine API plus the lower layers for advanced use.
 */
export { loadModel, Engine, type LoadModelOptions } from './engine/engine.js';
export * from './engine/api-types.js';
export { openModel, evaluateAll, topLogprobs, type OpenOptions, type OpenedModel } from './engine/open.js';
export { readGGUF, readTensorData, GGUFError, type GGUFFile, type GGUFTensorInfo, type GGUFValue } from './formats/gguf.js';
export { writeGGUF } from './formats/gguf-writer.js';
export { GGMLType, typeName, SUPPORTED_WEIGHT_TYPES } from './formats/ggml-types.js';
export { Tokenizer } from './tokenizer/tokenizer.js';
export { createBackend } from './backends/index.js';
export type { Backend, Tensor } from './ops/types.js';
export { supportedArchitectures } from './models/registry.js';
export type { Model, ModelInfo, SequenceState } from './models/types.js';

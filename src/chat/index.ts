// Chat layer (tokenizer/sampling level): templates, reasoning split, tool-call parsing.
export * from './template.js';
export * from './reasoning.js';
export * from './tool-calls.js';
export { JsonPrefix } from './json-prefix.js';

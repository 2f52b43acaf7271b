// Shared pieces of the real-model server tests: the tiny Qwen2 (R1-Distill tokenizer) fixture,
// its chat template, and strict SSE parsing of raw response bytes.
import { ensureFixture } from '../../dist/fixtures/fixtures.js';
import { GGMLType } from '../../dist/formats/ggml-types.js';
import { builtinTemplate } from '../../dist/chat/template.js';
import { fixtureDir } from './fixtures.js';

export function tinyModelPath() {
  return ensureFixture(fixtureDir(), { family: 'qwen2', size: 'tiny', type: GGMLType.Q8_0 });
}

/** R1-Distill template: the generation prompt ends with `<think>\n`, so output starts mid-thought.
 *  Passed explicitly because a fixture cached before templates were wired in has none. */
export function r1Template() {
  return builtinTemplate('deepseek-r1-distill');
}

/**
 * Split an SSE body at the byte level and decode each event on its own with a fatal UTF-8 decoder:
 * proves every event is complete UTF-8 (a character split across events would throw here).
 * Returns the `data:` payloads ('[DONE]' or parsed JSON).
 */
export function sseEventsStrict(bytes) {
  const dec = new TextDecoder('utf-8', { fatal: true });
  const out = [];
  let start = 0;
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i + 1] === 0x0a) {
      const ev = dec.decode(bytes.subarray(start, i));
      if (!ev.startsWith('data: ')) throw new Error(`not an SSE data event: ${ev.slice(0, 80)}`);
      const data = ev.slice(6);
      out.push(data === '[DONE]' ? data : JSON.parse(data));
      start = i + 2;
      i++;
    }
  }
  if (start !== bytes.length) throw new Error(`trailing bytes after the last SSE event: ${bytes.length - start}`);
  return out;
}

export const post = (url, body, headers = {}, init = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), ...init });

// A deterministic stand-in for the engine (the EngineLike interface of src/server/app.ts), for
// server tests that need exact timing: queue limits, disconnects, shutdown. Each "token" is one
// character; generation yields a reasoning part, then a content part, one token per `delayMs`.
import { InvalidRequestError } from '../../dist/engine/api-types.js';

export class FakeEngine {
  constructor({ delayMs = 5, contextLength = 256, reasoning = '让我想想。', answer = 'Hello, 世界! **bold**' } = {}) {
    this.modelName = 'fake-model';
    this.contextLength = contextLength;
    this.delayMs = delayMs;
    this.reasoning = reasoning;
    this.answer = answer;
    this.started = 0;
    this.aborted = 0;
    this.active = 0;
    this.disposed = false;
    this.chat = { completions: { create: (req) => this.create(req, true) } };
    this.completions = { create: (req) => this.create(req, false) };
  }

  tokenize(text) {
    return [...text].map((c) => c.codePointAt(0));
  }

  detokenize(ids) {
    for (const id of ids) if (id < 0 || id > 0x10ffff) throw new InvalidRequestError(`token id ${id} is outside the vocabulary`);
    return String.fromCodePoint(...ids);
  }

  async dispose() {
    this.disposed = true;
  }

  async create(req, chat) {
    if (this.disposed) throw new Error('engine has been disposed');
    let promptLen;
    if (chat) {
      if (!Array.isArray(req.messages) || req.messages.length === 0) throw new InvalidRequestError('messages must be a non-empty array', 'messages');
      promptLen = req.messages.reduce((n, m) => n + [...String(m?.content ?? '')].length, 0);
    } else {
      if (typeof req.prompt !== 'string') throw new InvalidRequestError('prompt must be a string', 'prompt');
      promptLen = [...req.prompt].length;
    }
    if (req.temperature !== undefined && (typeof req.temperature !== 'number' || req.temperature < 0)) {
      throw new InvalidRequestError('temperature must be a number in [0, 100]', 'temperature');
    }
    if (promptLen >= this.contextLength) {
      throw new InvalidRequestError(`the prompt has ${promptLen} tokens, which does not fit the context of ${this.contextLength} tokens`, 'messages', 'context_length_exceeded');
    }
    const max = req.max_tokens ?? 1000;
    const parts = [];
    if (chat) for (const c of this.reasoning) parts.push(['r', c]);
    for (const c of this.answer) parts.push(['c', c]);
    const take = parts.slice(0, max);
    const finish = take.length < parts.length ? 'length' : 'stop';
    const usage = {
      prompt_tokens: promptLen, completion_tokens: take.length, total_tokens: promptLen + take.length,
      prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: take.filter((p) => p[0] === 'r').length },
    };
    const base = { id: 'fake-1', created: 1, model: this.modelName };
    const self = this;
    const signal = req.signal;
    async function* gen() {
      self.started++;
      self.active++;
      try {
        if (chat) yield { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: null }, logprobs: null, finish_reason: null }] };
        for (const [kind, ch] of take) {
          await new Promise((r) => setTimeout(r, self.delayMs));
          if (signal?.aborted) {
            self.aborted++;
            return;
          }
          if (chat) {
            const delta = kind === 'r' ? { reasoning_content: ch, content: null } : { content: ch, reasoning_content: null };
            yield { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] };
          } else {
            yield { ...base, object: 'text_completion', choices: [{ index: 0, text: ch, logprobs: null, finish_reason: null }] };
          }
        }
        if (chat) yield { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finish }] };
        else yield { ...base, object: 'text_completion', choices: [{ index: 0, text: '', logprobs: null, finish_reason: finish }] };
        if (req.stream_options?.include_usage) yield { ...base, object: chat ? 'chat.completion.chunk' : 'text_completion', choices: [], usage };
      } finally {
        self.active--;
      }
    }
    if (req.stream) return gen();
    let reasoning = '';
    let content = '';
    for await (const c of gen()) {
      const d = c.choices[0]?.delta;
      if (d?.reasoning_content) reasoning += d.reasoning_content;
      if (d?.content) content += d.content;
      if (c.choices[0]?.text) content += c.choices[0].text;
    }
    if (signal?.aborted) {
      const e = new Error('the request was aborted');
      e.name = 'AbortError';
      throw e;
    }
    if (chat) {
      return { ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content, reasoning_content: reasoning || null }, logprobs: null, finish_reason: finish }], usage };
    }
    return { ...base, object: 'text_completion', choices: [{ index: 0, text: content, logprobs: null, finish_reason: finish }], usage };
  }
}

/** Parse an SSE body (bytes) into the list of `data:` payloads; asserts strict UTF-8. */
export function parseSse(bytes) {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  const events = text.split('\n\n').filter((e) => e.length > 0);
  return events.map((e) => {
    if (!e.startsWith('data: ')) throw new Error(`not an SSE data event: ${JSON.stringify(e.slice(0, 80))}`);
    return e.slice(6);
  });
}

/**
 * The in-process, OpenAI-shaped engine API:
 *
 *   const engine = await loadModel('model.gguf', { threads: 2 });
 *   const r = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }] });
 *   for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) ...
 *
 * The HTTP server and the CLI are thin adapters over this class. Up to `parallel` requests
 * generate at once, sharing every forward pass (continuous batching, see generate.ts); each slot's
 * KV cache is reused by a later request that shares its prefix (prompt cache).
 */
import { ChatTemplate, TemplateError, type ChatMessage, type ToolSpec } from '../chat/template.js';
import { prepareHistory, historyPolicy } from '../chat/reasoning.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import type { SamplingParams } from '../sampling/sampler.js';
import { openModel, type OpenOptions, type OpenedModel } from './open.js';
import { Scheduler, type GenerateEvent, type GenerateParams, type GenerateResult, type TokenInfo } from './generate.js';
import {
  InvalidRequestError,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type Completion,
  type CompletionChunk,
  type CompletionRequest,
  type FinishReason,
  type SamplingFields,
  type TokenLogprob,
  type ToolCall,
  type Timings,
  type Usage,
} from './api-types.js';

export interface LoadModelOptions extends OpenOptions {
  /** Context window in tokens (default: the model's training context, at most 4096). */
  readonly contextLength?: number;
  /** Jinja chat template overriding the file's `tokenizer.chat_template`. */
  readonly chatTemplate?: string;
  /** Name reported in responses (default: the file name). */
  readonly modelName?: string;
  /**
   * Sequences generated at once (continuous batching; default 1). Each active sequence has its
   * own KV cache of `contextLength` tokens, allocated when first used.
   */
  readonly parallel?: number;
  /**
   * When a generation fills the context: keep the start of the conversation, drop the older half
   * of the rest and re-evaluate (default true), or stop with finish_reason "length" (false).
   */
  readonly contextShift?: boolean;
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function newId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

function num(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new InvalidRequestError(`${name} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`, name);
  }
  return v;
}

function int(v: unknown, name: string, min: number, max: number): number | undefined {
  const n = num(v, name, min, max);
  if (n !== undefined && !Number.isInteger(n)) throw new InvalidRequestError(`${name} must be an integer`, name);
  return n;
}

export class Engine {
  readonly tokenizer: Tokenizer;
  readonly contextLength: number;
  readonly modelName: string;
  /** Real vocabulary size: ids at or above it are padding rows and are never sampled. */
  readonly vocabSize: number;
  private template: ChatTemplate | null = null;
  private readonly templateSource: string | null;
  private readonly scheduler: Scheduler;
  private disposed = false;

  readonly chat = {
    completions: {
      create: ((req: ChatCompletionRequest) => this.createChat(req)) as {
        (req: ChatCompletionRequest & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
        (req: ChatCompletionRequest & { stream?: false | null }): Promise<ChatCompletion>;
        (req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
      },
    },
  };

  readonly completions = {
    create: ((req: CompletionRequest) => this.createCompletion(req)) as {
      (req: CompletionRequest & { stream: true }): Promise<AsyncIterable<CompletionChunk>>;
      (req: CompletionRequest & { stream?: false | null }): Promise<Completion>;
      (req: CompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>>;
    },
  };

  constructor(readonly opened: OpenedModel, opts: LoadModelOptions) {
    const { file, model } = opened;
    this.tokenizer = Tokenizer.fromGGUF(file.metadata);
    const ctx = opts.contextLength ?? Math.min(model.info.contextLength, 4096);
    if (!Number.isInteger(ctx) || ctx < 2) throw new Error(`context length must be an integer >= 2, got ${ctx}`);
    this.contextLength = ctx;
    this.modelName = opts.modelName ?? file.path.split(/[\\/]/).pop()!.replace(/\.gguf$/i, '');
    this.vocabSize = realVocabSize(file.metadata.get('tokenizer.ggml.token_type'), Math.min(this.tokenizer.vocabSize, model.info.nVocab));
    const src = opts.chatTemplate ?? file.metadata.get('tokenizer.chat_template');
    this.templateSource = typeof src === 'string' ? src : null;
    this.scheduler = new Scheduler(model, this.tokenizer, this.vocabSize, ctx, opts.parallel ?? 1, opts.contextShift ?? true);
  }

  get model() {
    return this.opened.model;
  }

  /** The chat template, or a clear error when the file has none and none was given. */
  chatTemplate(): ChatTemplate {
    if (!this.templateSource) {
      throw new TemplateError(`${this.opened.file.path} has no chat template (tokenizer.chat_template); pass one with --chat-template or the chatTemplate option, or use a plain completion`);
    }
    this.template ??= new ChatTemplate(this.templateSource, {
      bosToken: this.tokenText(this.tokenizer.bosId),
      eosToken: this.tokenText(this.tokenizer.eosId),
    });
    return this.template;
  }

  private tokenText(id: number | null): string {
    return id === null ? '' : this.tokenizer.tokenText(id);
  }

  tokenize(text: string, opts: { special?: boolean; bos?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { parseSpecial: opts.special ?? true, addBos: opts.bos ?? false });
  }

  detokenize(ids: readonly number[]): string {
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= this.tokenizer.vocabSize) throw new InvalidRequestError(`token id ${id} is outside the vocabulary`);
    return this.tokenizer.decode(ids);
  }

  /** Tokens of a rendered chat prompt: BOS only if the template did not already write it. */
  private promptTokens(text: string): number[] {
    const bos = this.tokenizer.bosId;
    const bosText = bos === null ? '' : this.tokenizer.tokenText(bos);
    const addBos = this.tokenizer.addBos && !(bosText && text.startsWith(bosText));
    return this.tokenizer.encode(text, { parseSpecial: true, addBos });
  }

  private sampling(req: SamplingFields): SamplingParams {
    const bias = req.logit_bias ?? undefined;
    let logitBias: Map<number, number> | undefined;
    if (bias !== undefined) {
      if (typeof bias !== 'object' || Array.isArray(bias)) throw new InvalidRequestError('logit_bias must be an object of token id -> bias', 'logit_bias');
      logitBias = new Map();
      for (const [k, v] of Object.entries(bias)) {
        const id = Number(k);
        if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new InvalidRequestError(`logit_bias: ${k} is not a token id of this model`, 'logit_bias');
        if (typeof v !== 'number' || Number.isNaN(v) || v > 100 || v < -100) throw new InvalidRequestError(`logit_bias: bias for ${k} must be a number in [-100, 100]`, 'logit_bias');
        logitBias.set(id, v === -100 ? -Infinity : v);
      }
    }
    const p: SamplingParams = {
      temperature: num(req.temperature, 'temperature', 0, 100),
      topP: num(req.top_p, 'top_p', 0, 1),
      topK: int(req.top_k, 'top_k', 0, 1 << 30),
      minP: num(req.min_p, 'min_p', 0, 1),
      repetitionPenalty: num(req.repetition_penalty, 'repetition_penalty', 0.01, 100),
      presencePenalty: num(req.presence_penalty, 'presence_penalty', -2, 2),
      frequencyPenalty: num(req.frequency_penalty, 'frequency_penalty', -2, 2),
      seed: int(req.seed, 'seed', -(2 ** 53), 2 ** 53),
      logitBias,
    };
    if (p.topP === 0) throw new InvalidRequestError('top_p must be greater than 0', 'top_p');
    return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as SamplingParams;
  }

  private stops(req: SamplingFields): string[] {
    const s = req.stop;
    if (s === undefined || s === null) return [];
    const arr = typeof s === 'string' ? [s] : s;
    if (!Array.isArray(arr) || arr.length > 16 || arr.some((x) => typeof x !== 'string' || x.length === 0)) {
      throw new InvalidRequestError('stop must be a non-empty string or an array of at most 16 non-empty strings', 'stop');
    }
    return arr;
  }

  private maxTokens(req: SamplingFields, promptLen: number): number {
    const m = int(req.max_completion_tokens ?? req.max_tokens, req.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens', 1, 1 << 30);
    return m ?? Math.max(1, this.contextLength - promptLen);
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('engine has been disposed');
  }

  // ------------------------------------------------------------------------------- chat ----
  private buildChatPrompt(req: ChatCompletionRequest) {
    if (!req || typeof req !== 'object') throw new InvalidRequestError('request body must be an object');
    if (!Array.isArray(req.messages) || req.messages.length === 0) throw new InvalidRequestError('messages must be a non-empty array', 'messages');
    if (req.n != null && req.n !== 1) throw new InvalidRequestError('only n = 1 is supported', 'n');
    const messages: ChatMessage[] = req.messages.map((m, i) => normalizeMessage(m, i));
    const template = this.chatTemplate();
    const toolChoice = req.tool_choice ?? 'auto';
    const tools = req.tools && req.tools.length && toolChoice !== 'none' ? validateTools(req.tools) : undefined;
    const extra: Record<string, unknown> = { ...(req.chat_template_kwargs ?? {}) };
    if (req.thinking !== undefined && req.thinking !== null) {
      const on = typeof req.thinking === 'boolean' ? req.thinking : req.thinking.type === 'enabled';
      extra.thinking = on;
      extra.enable_thinking = on;
    }
    const prepared = prepareHistory(messages, historyPolicy(template.traits));
    let text: string;
    try {
      text = template.render(prepared, { addGenerationPrompt: true, tools, extra });
    } catch (e) {
      if (e instanceof TemplateError) throw new InvalidRequestError(`chat template error: ${e.message}`, 'messages');
      throw e;
    }
    const prompt = this.promptTokens(text);
    const startsInThought = /<think>\s*$/.test(text);
    const thinking = startsInThought || template.traits.supportsThinkingToggle || template.traits.endsWithThinkOpen || this.tokenizer.tokenId('<think>') !== undefined;
    return { prompt, startsInThought, thinking, toolFormat: tools ? template.traits.toolFormat : null };
  }

  private async createChat(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    this.checkAlive();
    const built = this.buildChatPrompt(req);
    const params = {
      prompt: built.prompt,
      maxTokens: this.maxTokens(req, built.prompt.length),
      sampling: this.sampling(req),
      stop: this.stops(req),
      signal: req.signal,
      reasoning: built.thinking,
      startsInThought: built.startsInThought,
      reasoningBudget: int(req.reasoning_budget, 'reasoning_budget', 0, 1 << 30),
      toolFormat: built.toolFormat === 'none' || built.toolFormat === null ? null : built.toolFormat,
      logprobs: req.logprobs ? (int(req.top_logprobs, 'top_logprobs', 0, 20) ?? 0) : null,
    } as const;
    if (params.prompt.length >= this.contextLength) {
      throw new InvalidRequestError(`the prompt has ${params.prompt.length} tokens, which does not fit the context of ${this.contextLength} tokens`, 'messages', 'context_length_exceeded');
    }
    const id = newId('chatcmpl');
    const created = now();
    const model = this.modelName;
    const gen = this.scheduler.submit(params);
    if (req.stream) return this.streamChat(gen, id, created, model, params, !!req.stream_options?.include_usage);

    {
      let reasoning = '';
      let content = '';
      const calls: ToolCall[] = [];
      const lps: TokenLogprob[] = [];
      let r = await gen.next();
      while (!r.done) {
        const ev = r.value;
        reasoning += ev.reasoning;
        content += ev.content;
        applyToolEvents(calls, ev);
        if (params.logprobs !== null) lps.push(...ev.tokens.map((t) => this.tokenLogprob(t)));
        r = await gen.next();
      }
      const res = r.value;
      if (res.finishReason === 'abort') throw abortError();
      return {
        id, object: 'chat.completion', created, model,
        choices: [{
          index: 0,
          message: {
            role: 'assistant',
            content: content === '' && calls.length ? null : content,
            reasoning_content: built.thinking && reasoning !== '' ? reasoning : null,
            ...(calls.length ? { tool_calls: calls } : {}),
          },
          logprobs: params.logprobs !== null ? { content: lps } : null,
          finish_reason: res.finishReason,
        }],
        usage: usageOf(res),
        timings: timingsOf(res),
      };
    }
  }

  private async *streamChat(
    gen: AsyncGenerator<GenerateEvent, GenerateResult>,
    id: string, created: number, model: string,
    params: GenerateParams, includeUsage: boolean,
  ): AsyncGenerator<ChatCompletionChunk> {
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: FinishReason | null = null, logprobs: TokenLogprob[] | null = null): ChatCompletionChunk => ({
      id, object: 'chat.completion.chunk', created, model,
      choices: [{ index: 0, delta, logprobs: logprobs ? { content: logprobs } : null, finish_reason: finish }],
    });
    try {
      yield chunk({ role: 'assistant', content: params.startsInThought ? null : '' });
      let r = await gen.next();
      while (!r.done) {
        const ev = r.value;
        const lps = params.logprobs !== null && ev.tokens.length ? ev.tokens.map((t) => this.tokenLogprob(t)) : null;
        let lpUsed = false;
        const take = () => {
          if (lpUsed) return null;
          lpUsed = true;
          return lps;
        };
        // DeepSeek streaming shape: reasoning and content never share a chunk.
        if (ev.reasoning) yield chunk({ reasoning_content: ev.reasoning, content: null }, null, take());
        if (ev.content) yield chunk({ content: ev.content, reasoning_content: null }, null, take());
        for (const te of ev.toolEvents) {
          if (te.type === 'start') yield chunk({ tool_calls: [{ index: te.index, id: te.id, type: 'function', function: { name: te.name, arguments: '' } }] }, null, take());
          else if (te.type === 'args') yield chunk({ tool_calls: [{ index: te.index, function: { arguments: te.delta } }] }, null, take());
        }
        if (lps && !lpUsed) yield chunk({}, null, lps);
        r = await gen.next();
      }
      const res = r.value;
      if (res.finishReason === 'abort') return;
      yield chunk({}, res.finishReason);
      if (includeUsage) yield { id, object: 'chat.completion.chunk', created, model, choices: [], usage: usageOf(res), timings: timingsOf(res) };
    } finally {
      await gen.return(undefined as never);
    }
  }

  private tokenLogprob(t: TokenInfo): TokenLogprob {
    const one = (tid: number) => {
      const bytes = [...this.tokenizer.tokenBytes(tid)];
      return { token: this.tokenizer.decode([tid]), bytes };
    };
    return { ...one(t.id), logprob: t.logprob, top_logprobs: t.top.map((x) => ({ ...one(x.id), logprob: x.logprob })) };
  }

  // ------------------------------------------------------------------------ completions ----
  private async createCompletion(req: CompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>> {
    this.checkAlive();
    if (!req || typeof req !== 'object') throw new InvalidRequestError('request body must be an object');
    if (req.n != null && req.n !== 1) throw new InvalidRequestError('only n = 1 is supported', 'n');
    let prompt: number[];
    let promptText: string;
    if (typeof req.prompt === 'string') {
      promptText = req.prompt;
      prompt = this.tokenizer.encode(req.prompt, { parseSpecial: true, addBos: this.tokenizer.addBos });
    } else if (Array.isArray(req.prompt) && req.prompt.length > 0 && req.prompt.every((x) => Number.isInteger(x))) {
      prompt = req.prompt;
      promptText = this.detokenize(prompt);
    } else {
      throw new InvalidRequestError('prompt must be a string or a non-empty array of token ids', 'prompt');
    }
    if (prompt.length === 0) throw new InvalidRequestError('the prompt is empty', 'prompt');
    if (prompt.length >= this.contextLength) {
      throw new InvalidRequestError(`the prompt has ${prompt.length} tokens, which does not fit the context of ${this.contextLength} tokens`, 'prompt', 'context_length_exceeded');
    }
    const params = {
      prompt,
      maxTokens: int(req.max_tokens, 'max_tokens', 1, 1 << 30) ?? 16,
      sampling: this.sampling(req),
      stop: this.stops(req),
      signal: req.signal,
      reasoning: false,
      startsInThought: false,
      toolFormat: null,
      logprobs: req.logprobs != null ? int(req.logprobs, 'logprobs', 0, 20)! : null,
    } as const;
    const id = newId('cmpl');
    const created = now();
    const model = this.modelName;
    const echo = req.echo ? promptText : '';
    const legacyLp = (tokens: TokenInfo[]) => ({
      tokens: tokens.map((t) => this.tokenizer.decode([t.id])),
      token_logprobs: tokens.map((t) => t.logprob),
      top_logprobs: tokens.map((t) => Object.fromEntries(t.top.map((x) => [this.tokenizer.decode([x.id]), x.logprob]))),
      text_offset: tokens.map(() => 0),
    });
    const gen = this.scheduler.submit(params);
    if (req.stream) {
      const include = !!req.stream_options?.include_usage;
      return (async function* () {
        try {
          if (echo) yield { id, object: 'text_completion' as const, created, model, choices: [{ index: 0, text: echo, logprobs: null, finish_reason: null }] };
          let r = await gen.next();
          while (!r.done) {
            const lp = params.logprobs !== null ? legacyLp([...r.value.tokens]) : null;
            if (r.value.content || lp) yield { id, object: 'text_completion' as const, created, model, choices: [{ index: 0, text: r.value.content, logprobs: lp, finish_reason: null }] };
            r = await gen.next();
          }
          if (r.value.finishReason === 'abort') return;
          yield { id, object: 'text_completion' as const, created, model, choices: [{ index: 0, text: '', logprobs: null, finish_reason: r.value.finishReason as FinishReason }] };
          if (include) yield { id, object: 'text_completion' as const, created, model, choices: [], usage: usageOf(r.value), timings: timingsOf(r.value) };
        } finally {
          await gen.return(undefined as never);
        }
      })();
    }
    {
      let text = echo;
      const tokens: TokenInfo[] = [];
      let r = await gen.next();
      while (!r.done) {
        text += r.value.content;
        tokens.push(...r.value.tokens);
        r = await gen.next();
      }
      if (r.value.finishReason === 'abort') throw abortError();
      return {
        id, object: 'text_completion', created, model,
        choices: [{ index: 0, text, logprobs: params.logprobs !== null ? legacyLp(tokens) : null, finish_reason: r.value.finishReason as FinishReason }],
        usage: usageOf(r.value),
        timings: timingsOf(r.value),
      };
    }
  }

  /** Requests generating and waiting right now. */
  get load(): { active: number; waiting: number } {
    return this.scheduler.load;
  }

  /** Forget cached prompts (of idle slots). */
  async reset(): Promise<void> {
    this.scheduler.reset();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.scheduler.dispose();
    await this.opened.dispose();
  }
}

function timingsOf(r: GenerateResult): Timings {
  const evaluated = r.promptTokens - r.cachedTokens;
  return {
    prompt_n: evaluated,
    prompt_ms: r.promptMs,
    prompt_per_second: r.promptMs > 0 ? (evaluated * 1000) / r.promptMs : 0,
    predicted_n: r.completionTokens,
    predicted_ms: r.generationMs,
    predicted_per_second: r.generationMs > 0 ? (r.completionTokens * 1000) / r.generationMs : 0,
  };
}

function usageOf(r: GenerateResult): Usage {
  return {
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens + r.completionTokens,
    prompt_tokens_details: { cached_tokens: r.cachedTokens },
    completion_tokens_details: { reasoning_tokens: r.reasoningTokens },
  };
}

function applyToolEvents(calls: ToolCall[], ev: GenerateEvent): void {
  for (const e of ev.toolEvents) {
    if (e.type === 'start') calls[e.index] = { id: e.id, type: 'function', function: { name: e.name, arguments: '' } };
    else if (e.type === 'args' && calls[e.index]) calls[e.index]!.function.arguments += e.delta;
  }
}

function abortError(): Error {
  const e = new Error('the request was aborted');
  e.name = 'AbortError';
  return e;
}

/** Highest id whose GGUF token type is not "unused" (5), + 1: padded embedding rows are excluded. */
function realVocabSize(types: unknown, limit: number): number {
  if (!Array.isArray(types)) return limit;
  let n = Math.min(limit, types.length);
  while (n > 1 && Number(types[n - 1]) === 5) n--;
  return n;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer']);

function normalizeMessage(m: unknown, i: number): ChatMessage {
  if (!m || typeof m !== 'object') throw new InvalidRequestError(`messages[${i}] must be an object`, 'messages');
  const msg = m as Record<string, unknown>;
  const role = msg.role;
  if (typeof role !== 'string' || !ROLES.has(role)) throw new InvalidRequestError(`messages[${i}].role must be one of system, user, assistant, tool`, 'messages');
  let content = msg.content;
  if (Array.isArray(content)) {
    content = content.map((part, j) => {
      if (part && typeof part === 'object' && (part as { type?: unknown }).type === 'text' && typeof (part as { text?: unknown }).text === 'string') return (part as { text: string }).text;
      throw new InvalidRequestError(`messages[${i}].content[${j}]: only text parts are supported`, 'messages');
    }).join('');
  }
  if (content !== null && content !== undefined && typeof content !== 'string') throw new InvalidRequestError(`messages[${i}].content must be a string, an array of text parts, or null`, 'messages');
  const out: ChatMessage = { role: (role === 'developer' ? 'system' : role) as ChatMessage['role'], content: (content as string | null | undefined) ?? null };
  if (typeof msg.reasoning_content === 'string') out.reasoning_content = msg.reasoning_content;
  if (Array.isArray(msg.tool_calls)) {
    out.tool_calls = msg.tool_calls.map((tc: unknown, j: number) => {
      const t = tc as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
      if (!t || typeof t !== 'object' || !t.function || typeof t.function.name !== 'string') throw new InvalidRequestError(`messages[${i}].tool_calls[${j}] must have function.name`, 'messages');
      const args = t.function.arguments;
      return { id: typeof t.id === 'string' ? t.id : `call_${j}`, type: 'function' as const, function: { name: t.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) } };
    });
  }
  if (typeof msg.tool_call_id === 'string') out.tool_call_id = msg.tool_call_id;
  if (typeof msg.name === 'string') out.name = msg.name;
  if (out.role !== 'assistant' && out.content === null) throw new InvalidRequestError(`messages[${i}].content is required for role ${role}`, 'messages');
  return out;
}

function validateTools(tools: unknown): ToolSpec[] {
  if (!Array.isArray(tools)) throw new InvalidRequestError('tools must be an array', 'tools');
  return tools.map((t, i) => {
    const f = (t as { type?: unknown; function?: { name?: unknown } })?.function;
    if ((t as { type?: unknown })?.type !== 'function' || !f || typeof f.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(f.name)) {
      throw new InvalidRequestError(`tools[${i}] must be {type: "function", function: {name, description?, parameters?}} with a name of letters, digits, _ . -`, 'tools');
    }
    return t as ToolSpec;
  });
}

/** Load a GGUF model and return an engine with the OpenAI-shaped API. */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<Engine> {
  const opened = await openModel(path, options);
  try {
    return new Engine(opened, options);
  } catch (e) {
    await opened.dispose();
    throw e;
  }
}

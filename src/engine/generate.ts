/**
 * Generation: a scheduler that runs many requests at once with continuous batching.
 *
 * Every step it builds one batch from all active requests: one token per request that is
 * decoding, plus prompt chunks of requests that are still prefilling (up to the model's batch
 * limit), runs a single `forwardBatch` (each weight matrix is read once for the whole batch), and
 * hands each request its logits. New requests join between steps; finished ones leave.
 *
 * Per request, sampled tokens go through a text pipeline:
 *   Sampler -> id -> (end-of-generation? stop) -> StreamDecoder (holds split UTF-8 characters)
 *   -> StopMatcher (holds possible stop-string prefixes) -> ReasoningParser (<think> split)
 *   -> ToolCallParser (DeepSeek tool-call blocks) -> event
 *
 * Each `Slot` owns one sequence state (KV cache) and remembers the tokens in it; a new request is
 * placed on the free slot sharing the longest prefix with its prompt and only evaluates the rest
 * (prompt cache). The forward pass is synchronous; the loop yields to the event loop between
 * steps so aborts and I/O are handled promptly.
 */
import type { BatchItem, Model, SequenceState } from '../models/types.js';
import type { Tokenizer, StreamDecoder } from '../tokenizer/tokenizer.js';
import { Sampler, type SamplingParams } from '../sampling/sampler.js';
import { StopMatcher } from '../sampling/stop.js';
import { ReasoningBudget, ReasoningParser } from '../chat/reasoning.js';
import { ToolCallParser, type ToolCallEvent } from '../chat/tool-calls.js';
import { InvalidRequestError, type FinishReason } from './api-types.js';

export interface GenerateParams {
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  readonly stop: readonly string[];
  readonly signal?: AbortSignal;
  /** Split <think> reasoning from content. */
  readonly reasoning: boolean;
  /** The prompt already opened the thought (template ends with <think>). */
  readonly startsInThought: boolean;
  readonly reasoningBudget?: number;
  /** Parse tool calls in this format (null: plain content). */
  readonly toolFormat: 'v3' | 'v3.1' | 'dsml' | 'auto' | null;
  /** Number of top alternatives to report per token (null: no logprobs). */
  readonly logprobs: number | null;
}

export interface TokenInfo {
  readonly id: number;
  readonly logprob: number;
  readonly top: ReadonlyArray<{ id: number; logprob: number }>;
}

export interface GenerateEvent {
  readonly reasoning: string;
  readonly content: string;
  readonly toolEvents: readonly ToolCallEvent[];
  /** The token(s) behind this event (present when logprobs were requested). */
  readonly tokens: readonly TokenInfo[];
}

export interface GenerateResult {
  readonly finishReason: FinishReason | 'abort';
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly completionTokens: number;
  readonly reasoningTokens: number;
  readonly toolCalls: number;
  /** Wall time of prompt evaluation and of generation, in milliseconds. */
  readonly promptMs: number;
  readonly generationMs: number;
}

/** One sequence state plus the tokens it holds. */
export class Slot {
  private state: SequenceState | null = null;
  readonly tokens: number[] = [];
  lastUsed = 0;
  busy = false;

  constructor(private readonly model: Model, readonly contextLength: number) {}

  get seq(): SequenceState {
    this.state ??= this.model.newSequence(this.contextLength);
    return this.state;
  }

  commonPrefix(prompt: readonly number[]): number {
    const max = Math.min(this.tokens.length, prompt.length);
    let n = 0;
    while (n < max && this.tokens[n] === prompt[n]) n++;
    return n;
  }

  /** Keep the first n tokens. */
  truncate(n: number): void {
    if (this.state) this.state.truncate(Math.min(n, this.state.length));
    this.tokens.length = Math.min(n, this.tokens.length);
  }

  dispose(): void {
    this.state?.dispose();
    this.state = null;
    this.tokens.length = 0;
  }
}

/** Sampler + decoder + stop strings + reasoning + tool calls for one request. */
class TextPipeline {
  readonly sampler: Sampler;
  private readonly stopper: StopMatcher;
  private readonly decoder: StreamDecoder;
  readonly reasoner: ReasoningParser | null;
  private readonly tools: ToolCallParser | null;
  toolCalls = 0;

  constructor(p: GenerateParams, tokenizer: Tokenizer, vocabSize: number) {
    this.sampler = new Sampler(p.sampling, { vocabSize });
    this.stopper = new StopMatcher(p.stop);
    this.decoder = tokenizer.createDecoder();
    this.reasoner = p.reasoning ? new ReasoningParser({ startsInThought: p.startsInThought }) : null;
    this.tools = p.toolFormat ? new ToolCallParser(p.toolFormat) : null;
  }

  private route(text: string, final: boolean): Omit<GenerateEvent, 'tokens'> | null {
    let reasoning = '';
    let content = text;
    if (this.reasoner) {
      const a = this.reasoner.push(text);
      const b = final ? this.reasoner.flush() : { reasoning: '', content: '' };
      reasoning = a.reasoning + b.reasoning;
      content = a.content + b.content;
    }
    let toolEvents: ToolCallEvent[] = [];
    if (this.tools) {
      const a = this.tools.push(content);
      const b = final ? this.tools.flush() : { content: '', events: [] };
      content = a.content + b.content;
      toolEvents = [...a.events, ...b.events];
      for (const e of toolEvents) if (e.type === 'start') this.toolCalls++;
    }
    if (!reasoning && !content && toolEvents.length === 0) return null;
    return { reasoning, content, toolEvents };
  }

  /** Text of a generated token; `stopped` when a stop string completed. */
  token(id: number): { event: Omit<GenerateEvent, 'tokens'> | null; stopped: boolean } {
    const s = this.stopper.push(this.decoder.push(id));
    return { event: this.route(s.emit, false), stopped: s.stopped };
  }

  /** End of generation: release what the stages held back (nothing after a stop string). */
  finish(afterStop: boolean): Omit<GenerateEvent, 'tokens'> | null {
    const tail = afterStop ? '' : this.stopper.push(this.decoder.flush()).emit + this.stopper.flush();
    return this.route(tail, true);
  }

  get inThought(): boolean {
    return this.reasoner?.inThought ?? false;
  }
}

class Job {
  readonly pipe: TextPipeline;
  readonly history: number[];
  readonly budget: ReasoningBudget | null;
  slot: Slot | null = null;
  /** Prompt tokens still to evaluate. */
  pending: number[] = [];
  /** Token to feed at the next decode step. */
  next = -1;
  /** Tokens to feed without sampling (closing a thought at the reasoning budget). */
  forced: number[] = [];
  cached = 0;
  /** Context shifts done for this request. */
  shifts = 0;
  completion = 0;
  reasoningTokens = 0;
  queued: GenerateEvent[] = [];
  pendingTokens: TokenInfo[] = [];
  result: GenerateResult | null = null;
  error: unknown = null;
  wake: (() => void) | null = null;
  t0 = performance.now();
  tPrompt = 0;

  constructor(readonly p: GenerateParams, tokenizer: Tokenizer, vocabSize: number) {
    this.pipe = new TextPipeline(p, tokenizer, vocabSize);
    this.history = [...p.prompt];
    this.budget = p.reasoningBudget !== undefined && p.reasoningBudget >= 0 ? new ReasoningBudget(p.reasoningBudget) : null;
  }

  get done(): boolean {
    return this.result !== null || this.error !== null;
  }

  emit(ev: Omit<GenerateEvent, 'tokens'> | null, flushTokens = false): void {
    if (!ev && !(flushTokens && this.pendingTokens.length)) return;
    this.queued.push({ ...(ev ?? { reasoning: '', content: '', toolEvents: [] }), tokens: this.pendingTokens });
    this.pendingTokens = [];
    this.notify();
  }

  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export class Scheduler {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private readonly active: Job[] = [];
  private running = false;
  private clock = 0;
  private closed = false;

  constructor(
    private readonly model: Model,
    private readonly tokenizer: Tokenizer,
    private readonly vocabSize: number,
    readonly contextLength: number,
    readonly parallel: number,
    /** On a full context: shift it (true) or stop with finish_reason "length" (false). */
    private readonly contextShift = true,
  ) {
    if (!Number.isInteger(parallel) || parallel < 1) throw new Error(`parallel must be a positive integer, got ${parallel}`);
    for (let i = 0; i < parallel; i++) this.slots.push(new Slot(model, contextLength));
  }

  /** Requests generating or waiting. */
  get load(): { active: number; waiting: number } {
    return { active: this.active.length, waiting: this.waiting.length };
  }

  /** Start a generation; iterate the result for events, its return value is the summary. */
  submit(p: GenerateParams): AsyncGenerator<GenerateEvent, GenerateResult> {
    if (this.closed) throw new Error('engine has been disposed');
    if (p.prompt.length === 0) throw new InvalidRequestError('the prompt is empty');
    if (p.prompt.length >= this.contextLength) {
      throw new InvalidRequestError(
        `the prompt has ${p.prompt.length} tokens, which does not fit the context of ${this.contextLength} tokens (at least one token must remain for the answer)`,
        'messages',
        'context_length_exceeded',
      );
    }
    const job = new Job(p, this.tokenizer, this.vocabSize);
    this.waiting.push(job);
    void this.run();
    return this.consume(job);
  }

  private async *consume(job: Job): AsyncGenerator<GenerateEvent, GenerateResult> {
    try {
      for (;;) {
        if (job.queued.length) {
          yield job.queued.shift()!;
          continue;
        }
        if (job.error) throw job.error;
        if (job.result) return job.result;
        await new Promise<void>((r) => (job.wake = r));
      }
    } finally {
      // The consumer stopped early (break / return): stop generating for it.
      if (!job.done) this.finish(job, 'abort', false);
    }
  }

  private pickSlot(prompt: readonly number[]): Slot | null {
    let best: Slot | null = null;
    let bestCommon = -1;
    for (const s of this.slots) {
      if (s.busy) continue;
      const c = s.commonPrefix(prompt);
      if (c > bestCommon || (c === bestCommon && best && s.lastUsed < best.lastUsed)) {
        best = s;
        bestCommon = c;
      }
    }
    return best;
  }

  private admit(): void {
    while (this.waiting.length) {
      const job = this.waiting[0]!;
      if (job.p.signal?.aborted) {
        this.waiting.shift();
        this.finish(job, 'abort', false);
        continue;
      }
      const slot = this.pickSlot(job.p.prompt);
      if (!slot) return;
      this.waiting.shift();
      slot.busy = true;
      slot.lastUsed = ++this.clock;
      job.slot = slot;
      let common = slot.commonPrefix(job.p.prompt);
      if (common === job.p.prompt.length) common--; // the last prompt token must be evaluated for its logits
      slot.truncate(common);
      job.cached = common;
      job.pending = job.p.prompt.slice(common);
      job.t0 = performance.now();
      this.active.push(job);
    }
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closed) {
        this.admit();
        for (const job of [...this.active]) if (job.p.signal?.aborted) this.finish(job, 'abort', false);
        if (this.active.length === 0) break;
        this.step();
        await yieldToEventLoop();
      }
    } finally {
      this.running = false;
    }
  }

  /** One forward pass over every active request. */
  private step(): void {
    const items: BatchItem[] = [];
    const jobs: Job[] = [];
    const chunks: number[][] = [];
    let budget = this.model.maxBatch;
    for (const job of this.active) {
      if (job.pending.length || budget < 1) continue;
      items.push({ tokens: Int32Array.of(job.next), state: job.slot!.seq, logits: 'last' });
      jobs.push(job);
      chunks.push([job.next]);
      budget--;
    }
    for (const job of this.active) {
      if (!job.pending.length || budget < 1) continue;
      const chunk = job.pending.slice(0, budget);
      items.push({ tokens: Int32Array.from(chunk), state: job.slot!.seq, logits: chunk.length === job.pending.length ? 'last' : 'none' });
      jobs.push(job);
      chunks.push(chunk);
      budget -= chunk.length;
    }
    if (!items.length) return;
    let out: Float32Array[];
    try {
      out = this.model.forwardBatch(items);
    } catch (e) {
      for (const job of jobs) this.fail(job, e);
      return;
    }
    jobs.forEach((job, i) => {
      const slot = job.slot!;
      slot.tokens.push(...chunks[i]!);
      if (job.pending.length) {
        job.pending = job.pending.slice(chunks[i]!.length);
        if (job.pending.length) return; // more prompt to go
        if (!job.tPrompt) job.tPrompt = performance.now();
      }
      this.afterLogits(job, out[i]!);
    });
  }

  private afterLogits(job: Job, logits: Float32Array): void {
    if (job.forced.length) {
      job.next = job.forced.shift()!;
      return;
    }
    const p = job.p;
    const pipe = job.pipe;
    const id = pipe.sampler.sample(logits, job.history);
    if (p.logprobs !== null) {
      const lp = pipe.sampler.logprobs(logits, id, p.logprobs);
      job.pendingTokens.push({ id, logprob: lp.logprob, top: lp.top });
    }
    if (this.tokenizer.eogIds.has(id)) return this.finish(job, 'stop', false);
    job.completion++;
    if (pipe.inThought) job.reasoningTokens++;
    job.history.push(id);
    const { event, stopped } = pipe.token(id);
    job.emit(event, true);
    if (stopped) return this.finish(job, 'stop', true);
    if (job.completion >= p.maxTokens) return this.finish(job, 'length', false);
    if (job.slot!.tokens.length + 1 >= this.contextLength) {
      if (!this.contextShift) return this.finish(job, 'length', false);
      this.shiftContext(job, id);
      return;
    }
    job.next = id;
    if (job.budget && pipe.inThought && job.budget.onToken(true) === 'close') {
      // Close the thought as if the model had written the closing tag, then let it answer.
      const close = this.tokenizer.encode('\n</think>\n\n', { parseSpecial: true });
      const room = this.contextLength - job.slot!.tokens.length - 2;
      for (const t of close.slice(0, Math.max(0, room))) {
        job.history.push(t);
        job.emit(pipe.token(t).event);
        job.forced.push(t);
      }
    }
  }

  /**
   * Context overflow policy: keep the start of the conversation (up to a quarter of the context,
   * never more than the prompt), drop the older half of what follows, and re-evaluate the kept
   * tail at its new positions (then feed `id`). Re-evaluation is exact for every architecture
   * (MLA's rope keys included), so generation simply goes on.
   */
  private shiftContext(job: Job, id: number): void {
    const slot = job.slot!;
    const toks = slot.tokens.slice();
    const keep = Math.min(job.p.prompt.length, Math.floor(this.contextLength / 4));
    const discard = Math.max(1, Math.floor((toks.length - keep) / 2));
    const kept = [...toks.slice(0, keep), ...toks.slice(keep + discard)];
    slot.truncate(keep);
    job.pending = [...kept.slice(keep), id];
    job.shifts++;
  }

  private release(job: Job): void {
    const i = this.active.indexOf(job);
    if (i >= 0) this.active.splice(i, 1);
    const w = this.waiting.indexOf(job);
    if (w >= 0) this.waiting.splice(w, 1);
    if (job.slot) {
      job.slot.busy = false;
      // Positions whose keys/values were not computed must not count as cached.
      job.slot.truncate(job.slot.seq.length);
      job.slot = null;
    }
  }

  private finish(job: Job, reason: FinishReason | 'abort', afterStop: boolean): void {
    if (job.done) return;
    this.release(job);
    if (reason !== 'abort') job.emit(job.pipe.finish(afterStop), true);
    const now = performance.now();
    const tPrompt = job.tPrompt || now;
    job.result = {
      finishReason: reason !== 'abort' && job.pipe.toolCalls > 0 ? 'tool_calls' : reason,
      promptTokens: job.p.prompt.length,
      cachedTokens: job.cached,
      completionTokens: job.completion,
      reasoningTokens: job.reasoningTokens,
      toolCalls: job.pipe.toolCalls,
      promptMs: tPrompt - job.t0,
      generationMs: now - tPrompt,
    };
    job.notify();
  }

  private fail(job: Job, e: unknown): void {
    if (job.done) return;
    this.release(job);
    job.slot?.truncate(0);
    job.error = e;
    job.notify();
  }

  /** Forget cached prompts (idle slots only). */
  reset(): void {
    for (const s of this.slots) if (!s.busy) s.truncate(0);
  }

  dispose(): void {
    this.closed = true;
    for (const job of [...this.active, ...this.waiting]) this.finish(job, 'abort', false);
    for (const s of this.slots) s.dispose();
  }
}

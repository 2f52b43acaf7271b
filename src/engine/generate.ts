/**
 * The generation loop: prompt tokens in, a stream of UTF-8-safe text events out.
 *
 * Pipeline per sampled token:
 *   logits -> Sampler -> id -> (end-of-generation? stop) -> StreamDecoder (holds split characters)
 *   -> StopMatcher (holds possible stop-string prefixes) -> ReasoningParser (<think> split)
 *   -> ToolCallParser (DeepSeek tool-call blocks) -> event
 *
 * A `Slot` owns one sequence state (KV cache) and remembers which tokens it holds, so a new
 * request that shares a prefix with the previous one (same system prompt, same history) only
 * evaluates the new tail (prompt cache). The forward pass is synchronous; the loop yields to
 * the event loop between tokens so aborts and I/O are handled promptly.
 */
import type { Model, SequenceState } from '../models/types.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
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

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export class Slot {
  private state: SequenceState | null = null;
  /** Tokens whose keys/values are in `state`, in order. */
  private tokens: number[] = [];

  constructor(private readonly model: Model, readonly contextLength: number) {}

  private ensureState(): SequenceState {
    this.state ??= this.model.newSequence(this.contextLength);
    return this.state;
  }

  /** Tokens currently cached. */
  get cached(): readonly number[] {
    return this.tokens;
  }

  /**
   * Make the cache hold exactly `prompt` and return the logits after its last token, reusing the
   * longest common prefix with what is cached. Returns the number of reused tokens too.
   */
  prefill(prompt: readonly number[]): { logits: Float32Array; reused: number } {
    if (prompt.length === 0) throw new InvalidRequestError('the prompt is empty');
    if (prompt.length >= this.contextLength) {
      throw new InvalidRequestError(
        `the prompt has ${prompt.length} tokens, which does not fit the context of ${this.contextLength} tokens (at least one token must remain for the answer)`,
        'messages',
        'context_length_exceeded',
      );
    }
    const st = this.ensureState();
    let common = 0;
    const max = Math.min(this.tokens.length, st.length, prompt.length);
    while (common < max && this.tokens[common] === prompt[common]) common++;
    // The last prompt token must be evaluated to get its logits.
    if (common === prompt.length) common--;
    st.truncate(common);
    this.tokens.length = common;
    let logits: Float32Array = new Float32Array(0);
    for (let i = common; i < prompt.length; i += this.model.maxBatch) {
      const chunk = prompt.slice(i, Math.min(prompt.length, i + this.model.maxBatch));
      const last = i + chunk.length >= prompt.length;
      logits = this.model.forward(Int32Array.from(chunk), st, { logits: last ? 'last' : 'none' });
      this.tokens.push(...chunk);
    }
    return { logits, reused: common };
  }

  /** Append one token and return the logits after it. */
  step(id: number): Float32Array {
    const st = this.ensureState();
    const logits = this.model.forward(Int32Array.of(id), st, { logits: 'last' });
    this.tokens.push(id);
    return logits;
  }

  get length(): number {
    return this.tokens.length;
  }

  reset(): void {
    this.state?.truncate(0);
    this.tokens.length = 0;
  }

  dispose(): void {
    this.state?.dispose();
    this.state = null;
    this.tokens = [];
  }
}

/** Run one generation on `slot`. Yields text events; returns the summary. */
export async function* generate(
  slot: Slot,
  tokenizer: Tokenizer,
  vocabSize: number,
  p: GenerateParams,
): AsyncGenerator<GenerateEvent, GenerateResult> {
  const sampler = new Sampler(p.sampling, { vocabSize });
  const stopper = new StopMatcher(p.stop);
  const decoder = tokenizer.createDecoder();
  const reasoner = p.reasoning ? new ReasoningParser({ startsInThought: p.startsInThought }) : null;
  const tools = p.toolFormat ? new ToolCallParser(p.toolFormat) : null;
  const budget = p.reasoningBudget !== undefined && p.reasoningBudget >= 0 ? new ReasoningBudget(p.reasoningBudget) : null;
  const history = [...p.prompt];

  const t0 = performance.now();
  let { logits, reused } = slot.prefill(p.prompt);
  const t1 = performance.now();
  let completion = 0;
  let reasoningTokens = 0;
  let toolCalls = 0;
  let finish: FinishReason | 'abort' = 'length';
  let stoppedByString = false;

  const pipe = (text: string, final: boolean): GenerateEvent | null => {
    let reasoning = '';
    let content = text;
    if (reasoner) {
      const r = final ? mergeParts(reasoner.push(text), reasoner.flush()) : reasoner.push(text);
      reasoning = r.reasoning;
      content = r.content;
    }
    let toolEvents: ToolCallEvent[] = [];
    if (tools) {
      const t = final ? mergeTools(tools.push(content), tools.flush()) : tools.push(content);
      content = t.content;
      toolEvents = t.events;
      for (const e of toolEvents) if (e.type === 'start') toolCalls++;
    }
    if (!reasoning && !content && toolEvents.length === 0) return null;
    return { reasoning, content, toolEvents, tokens: [] };
  };

  let pendingTokens: TokenInfo[] = [];
  while (completion < p.maxTokens) {
    if (p.signal?.aborted) {
      finish = 'abort';
      break;
    }
    if (slot.length >= slot.contextLength) {
      finish = 'length';
      break;
    }
    const id = sampler.sample(logits, history);
    if (p.logprobs !== null) {
      const lp = sampler.logprobs(logits, id, p.logprobs);
      pendingTokens.push({ id, logprob: lp.logprob, top: lp.top });
    }
    if (tokenizer.eogIds.has(id)) {
      finish = 'stop';
      break;
    }
    completion++;
    if (reasoner?.inThought) reasoningTokens++;
    history.push(id);
    const text = decoder.push(id);
    const s = stopper.push(text);
    const ev = pipe(s.emit, false);
    if (ev || pendingTokens.length) {
      yield { ...(ev ?? { reasoning: '', content: '', toolEvents: [] }), tokens: pendingTokens };
      pendingTokens = [];
    }
    if (s.stopped) {
      finish = 'stop';
      stoppedByString = true;
      break;
    }
    if (completion >= p.maxTokens) break;
    if (slot.length + 1 >= slot.contextLength) {
      finish = 'length';
      break;
    }
    logits = slot.step(id);
    if (budget && reasoner?.inThought && budget.onToken(true) === 'close') {
      // Close the thought: feed the closing tag as if the model had written it.
      const close = tokenizer.encode('\n</think>\n\n', { parseSpecial: true });
      const closeText = close.map((t) => decoder.push(t)).join('');
      const ev2 = pipe(closeText, false);
      if (ev2) yield ev2;
      for (const t of close) {
        history.push(t);
        if (slot.length + 1 >= slot.contextLength) break;
        logits = slot.step(t);
      }
    }
    await yieldToEventLoop();
  }
  // Release held-back text (incomplete characters, possible stop prefixes, parser buffers).
  // After a stop string nothing that follows it may be emitted.
  const tail = stoppedByString ? '' : stopper.push(decoder.flush()).emit + stopper.flush();
  const last = pipe(tail, true);
  if (last || pendingTokens.length) yield { ...(last ?? { reasoning: '', content: '', toolEvents: [] }), tokens: pendingTokens };
  if (finish !== 'abort' && toolCalls > 0) finish = 'tool_calls';
  return {
    finishReason: finish,
    promptTokens: p.prompt.length,
    cachedTokens: reused,
    completionTokens: completion,
    reasoningTokens,
    toolCalls,
    promptMs: t1 - t0,
    generationMs: performance.now() - t1,
  };
}

function mergeParts(a: { reasoning: string; content: string }, b: { reasoning: string; content: string }) {
  return { reasoning: a.reasoning + b.reasoning, content: a.content + b.content };
}
function mergeTools(a: { content: string; events: ToolCallEvent[] }, b: { content: string; events: ToolCallEvent[] }) {
  return { content: a.content + b.content, events: [...a.events, ...b.events] };
}

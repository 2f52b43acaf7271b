// Reasoning (<think>) handling: a streaming splitter of generated text into reasoning and content, the
// history policy (what to send back of old thoughts), and a reasoning-token budget.
//
// Splitting rules (the same for streaming and one-shot use; splitReasoning() is push()+flush()):
//  - startsInThought (the prompt ended with `<think>`, R1 style): output begins inside the thought. If the
//    model still writes an explicit `<think>` first (optionally after whitespace), that tag is dropped.
//  - otherwise: if the output starts with optional whitespace then `<think>`, that opens the thought; any other
//    start means there is no thought at all and everything is content (verbatim).
//  - inside the thought, text before the first `</think>` is reasoning; only the first think block counts,
//    later `<think>`/`</think>` text is ordinary content.
//  - trimming (like DeepSeek's API, whose reasoning_content/content have no framing newlines): reasoning loses
//    its leading and trailing whitespace (the "\n" after `<think>` and before `</think>`); content after
//    `</think>` loses its leading line breaks (\r and \n only; spaces and indentation are kept).
//  - a thought never closed: everything is reasoning and content is ''.
// Streaming never emits part of a tag: a possible tag prefix at the end of the input is held back, as is
// trailing whitespace of reasoning (it is released when non-whitespace follows).

import type { ChatMessage, TemplateTraits } from './template.js';

export interface ReasoningParts {
  reasoning: string;
  content: string;
}

type State = 'start' | 'thoughtStart' | 'thought' | 'afterClose' | 'content';

export class ReasoningParser {
  private readonly open: string;
  private readonly close: string;
  private state: State;
  private buf = '';
  private opened: boolean;
  private emittedReasoning = false; // leading whitespace of the thought is dropped until text is emitted

  constructor(opts: { startsInThought: boolean; openTag?: string; closeTag?: string }) {
    this.open = opts.openTag ?? '<think>';
    this.close = opts.closeTag ?? '</think>';
    if (this.open === '' || this.close === '') throw new Error('ReasoningParser: think tags must be non-empty');
    this.state = opts.startsInThought ? 'thoughtStart' : 'start';
    this.opened = opts.startsInThought;
  }

  /** True while generated text belongs to the thought (used for reasoning-token counting and budgets). */
  get inThought(): boolean {
    return this.state === 'thoughtStart' || this.state === 'thought';
  }

  /** Whether a thought was opened at all (by the prompt or by an explicit tag). */
  get hadThought(): boolean {
    return this.opened;
  }

  push(text: string): ReasoningParts {
    this.buf += text;
    return this.run(false);
  }

  flush(): ReasoningParts {
    return this.run(true);
  }

  private run(final: boolean): ReasoningParts {
    let reasoning = '';
    let content = '';
    for (;;) {
      const b = this.buf;
      switch (this.state) {
        case 'start':
        case 'thoughtStart': {
          // Looking for an optional leading `<think>` after whitespace.
          const lead = b.length - b.trimStart().length;
          const rest = b.slice(lead);
          if (rest.startsWith(this.open)) {
            this.buf = rest.slice(this.open.length);
            this.state = 'thought';
            this.opened = true;
            continue;
          }
          if (!final && this.open.startsWith(rest)) return { reasoning, content }; // undecided: wait
          if (this.state === 'start') {
            this.state = 'content';
          } else {
            this.state = 'thought';
          }
          continue;
        }
        case 'thought': {
          if (!this.emittedReasoning) {
            const t = b.trimStart();
            this.buf = t;
            if (t === '') return { reasoning, content };
          }
          const cur = this.buf;
          const idx = cur.indexOf(this.close);
          if (idx >= 0) {
            reasoning += this.emitReasoning(cur.slice(0, idx).trimEnd());
            this.buf = cur.slice(idx + this.close.length);
            this.state = 'afterClose';
            continue;
          }
          if (final) {
            reasoning += this.emitReasoning(cur.trimEnd());
            this.buf = '';
            return { reasoning, content };
          }
          // Hold a possible partial close tag and trailing whitespace.
          const keep = partialSuffix(cur, this.close);
          let end = cur.length - keep;
          while (end > 0 && /\s/.test(cur[end - 1])) end--; // same set as trimEnd() at the close
          reasoning += this.emitReasoning(cur.slice(0, end));
          this.buf = cur.slice(end);
          return { reasoning, content };
        }
        case 'afterClose': {
          let i = 0;
          while (i < b.length && (b[i] === '\n' || b[i] === '\r')) i++;
          if (i === b.length) {
            this.buf = '';
            return { reasoning, content };
          }
          this.buf = b.slice(i);
          this.state = 'content';
          continue;
        }
        case 'content':
          content += b;
          this.buf = '';
          return { reasoning, content };
      }
    }
  }

  private emitReasoning(s: string): string {
    if (s !== '') this.emittedReasoning = true;
    return s;
  }
}

/** Length of the longest proper prefix of `tag` that `s` ends with (text that might become `tag`). */
export function partialSuffix(s: string, tag: string): number {
  const max = Math.min(s.length, tag.length - 1);
  for (let n = max; n > 0; n--) {
    if (s.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}

/**
 * One-shot split of a whole generation. reasoning is null when no thought was opened (not startsInThought and
 * no leading `<think>`); otherwise a string (possibly ''). content is '' when nothing follows the thought; an
 * API layer maps '' to null where DeepSeek's API does.
 */
export function splitReasoning(text: string, startsInThought: boolean): { reasoning: string | null; content: string } {
  const p = new ReasoningParser({ startsInThought });
  const a = p.push(text);
  const b = p.flush();
  return { reasoning: p.hadThought ? a.reasoning + b.reasoning : null, content: a.content + b.content };
}

// ------------------------------------------------------------------------------------ history policy ----

export type HistoryPolicy = 'strip' | 'keep';

/**
 * 'strip' (R1 / V3 / V3.1 / distills): old thoughts are never sent back (DeepSeek's R1 API rejects
 * reasoning_content in input; the R1 and V3.1 templates cut `..</think>` from history anyway).
 * 'keep' (V3.2-style thinking templates: DSML tools or a template that prints `reasoning_content`): the
 * thoughts of the current tool-use turn (assistant messages after the last user message) are sent back, as
 * DeepSeek's thinking-mode API requires; older ones are still dropped. V3.1's template has no place for
 * thoughts in tool turns (V3.1 does tool calls in non-thinking mode), so it gets 'strip'.
 */
export function historyPolicy(traits: Pick<TemplateTraits, 'toolFormat'> & { rendersReasoningContent?: boolean }): HistoryPolicy {
  if (traits.rendersReasoningContent || traits.toolFormat === 'dsml') return 'keep';
  return 'strip';
}

/**
 * Copies of `messages` ready for the template. Always: assistant messages before the last user message lose
 * `reasoning_content`, and a replayed leading `<think>..</think>` is removed from their content. With 'keep',
 * assistant messages after the last user message keep their reasoning: in `reasoning_content` (for templates
 * that print the field), or, with opts.inline, rendered into the content as `<think>REASONING</think>CONTENT`
 * (for templates that expect the thought inside the content). With 'strip' they are treated like old ones.
 */
export function prepareHistory(messages: ChatMessage[], policy: HistoryPolicy, opts: { inline?: boolean } = {}): ChatMessage[] {
  let lastUser = -1;
  messages.forEach((m, i) => {
    if (m.role === 'user') lastUser = i;
  });
  return messages.map((m, i) => {
    if (m.role !== 'assistant') return { ...m };
    const out: ChatMessage = { ...m };
    const reasoning = typeof m.reasoning_content === 'string' ? m.reasoning_content : '';
    delete out.reasoning_content;
    const content = typeof m.content === 'string' ? stripLeadingThought(m.content) : m.content;
    out.content = content;
    if (policy === 'keep' && i > lastUser && reasoning !== '') {
      if (opts.inline) out.content = `<think>${reasoning}</think>${content ?? ''}`;
      else out.reasoning_content = reasoning;
    }
    return out;
  });
}

/** Remove a replayed `<think>..</think>` (optionally after whitespace) from the start of assistant content. */
function stripLeadingThought(content: string): string {
  const t = content.trimStart();
  if (!t.startsWith('<think>')) return content;
  const end = t.indexOf('</think>');
  if (end < 0) return content;
  return t.slice(end + '</think>'.length).replace(/^[\r\n]+/, '');
}

// ------------------------------------------------------------------------------------ budget ----

/**
 * Counts generated tokens inside the thought; says 'close' once when the budget is used up (the engine then
 * injects `\n</think>\n\n`). maxTokens < 0 or Infinity: unlimited. maxTokens 0: close at the first thought token.
 */
export class ReasoningBudget {
  private used = 0;
  private closed = false;
  private readonly max: number;

  constructor(maxTokens: number) {
    if (typeof maxTokens !== 'number' || Number.isNaN(maxTokens)) {
      throw new Error(`reasoning budget must be a number of tokens, got ${String(maxTokens)}`);
    }
    this.max = maxTokens < 0 ? Infinity : Math.floor(maxTokens);
  }

  get tokensUsed(): number {
    return this.used;
  }

  onToken(inThought: boolean): 'continue' | 'close' {
    if (!inThought || this.closed) return 'continue';
    this.used++;
    if (this.used < this.max) return 'continue';
    this.closed = true;
    return 'close';
  }
}

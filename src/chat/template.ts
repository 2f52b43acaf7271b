// Chat templates: renders OpenAI-shaped messages through a Jinja chat template (from the GGUF's
// `tokenizer.chat_template`, a file, or a built-in) with @huggingface/jinja, the same engine transformers.js
// uses, so templates written for HF's Python Jinja render identically (trim_blocks + lstrip_blocks,
// raise_exception, strftime_now, tojson are provided by the library's globals/filters).
//
// Traits are found by rendering probe conversations and looking at the output, never by matching names:
// a renamed or fine-tuned template with the same behaviour gets the same traits.

import { Template } from '@huggingface/jinja';
export { builtinTemplate, BUILTIN_TEMPLATE_NAMES } from './builtin-templates.js';
export type { BuiltinTemplateName } from './builtin-templates.js';

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  reasoning_content?: string | null;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
  name?: string;
}

export interface ToolSpec {
  type: 'function';
  function: { name: string; description?: string; parameters?: unknown };
}

export type ToolFormat = 'v3' | 'v3.1' | 'dsml' | 'none';

export interface TemplateTraits {
  /** With default kwargs, the generation prompt ends inside an open `<think>` (R1 style). */
  endsWithThinkOpen: boolean;
  /** The `thinking` / `enable_thinking` kwarg changes the generation prompt (V3.1 / V3.2 style). */
  supportsThinkingToggle: boolean;
  /** Old assistant thoughts (inline `<think>..</think>` or `reasoning_content`) are not rendered in history. */
  stripsReasoningFromHistory: boolean;
  /** Which tool-call markup the template renders for assistant tool calls. */
  toolFormat: ToolFormat;
  /** The template itself prints `reasoning_content` of (current-turn) assistant messages. */
  rendersReasoningContent: boolean;
}

/** Template problems (missing template, Jinja syntax/runtime errors, raise_exception) carry the Jinja message. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

export interface RenderOptions {
  addGenerationPrompt: boolean;
  tools?: ToolSpec[];
  /** chat_template_kwargs, e.g. { thinking: true } (V3.1) or { enable_thinking: false }. */
  extra?: Record<string, unknown>;
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/**
 * True when `prompt` ends inside an open thought: its last `<think>` comes after its last `</think>` and only
 * whitespace follows it. The engine uses this per request (kwargs like `thinking` change the prompt).
 */
export function promptEndsInThought(prompt: string, openTag = THINK_OPEN, closeTag = THINK_CLOSE): boolean {
  const open = prompt.lastIndexOf(openTag);
  if (open < 0) return false;
  if (prompt.lastIndexOf(closeTag) > open) return false;
  return prompt.slice(open + openTag.length).trim() === '';
}

export class ChatTemplate {
  readonly source: string;
  readonly traits: TemplateTraits;
  private readonly template: Template;
  private readonly bosToken: string;
  private readonly eosToken: string;
  /** DSML templates iterate arguments as a mapping; the others concatenate the JSON text. */
  private argsAsObjects = false;

  constructor(source: string | null | undefined, opts: { bosToken: string; eosToken: string }) {
    if (typeof source !== 'string' || source.trim() === '') {
      throw new TemplateError(
        'model file has no chat template (tokenizer.chat_template is missing or empty); pass --chat-template <file> or a built-in name such as deepseek-v3',
      );
    }
    this.source = source;
    this.bosToken = opts.bosToken;
    this.eosToken = opts.eosToken;
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new TemplateError(`chat template does not parse: ${errMessage(e)}`);
    }
    this.traits = this.detectTraits();
    this.argsAsObjects = this.traits.toolFormat === 'dsml';
  }

  render(messages: ChatMessage[], opts: RenderOptions): string {
    if (!Array.isArray(messages)) throw new TemplateError('render: messages must be an array');
    const ctx: Record<string, unknown> = {
      ...(opts.extra ?? {}),
      messages: messages.map((m, i) => toTemplateMessage(m, i, this.argsAsObjects)),
      bos_token: this.bosToken,
      eos_token: this.eosToken,
      add_generation_prompt: opts.addGenerationPrompt,
    };
    // Templates test `if tools`; an absent key and an empty list both mean "no tools".
    if (opts.tools && opts.tools.length > 0) ctx.tools = opts.tools;
    try {
      return this.template.render(ctx);
    } catch (e) {
      throw new TemplateError(`chat template failed to render: ${errMessage(e)}`);
    }
  }

  /** Render that swallows errors (probes use odd conversations a template may reject). */
  private tryRender(messages: ChatMessage[], opts: RenderOptions): string | null {
    try {
      return this.render(messages, opts);
    } catch {
      return null;
    }
  }

  private detectTraits(): TemplateTraits {
    const user: ChatMessage = { role: 'user', content: 'PROBE_USER' };
    const withGen = this.tryRender([user], { addGenerationPrompt: true });
    const withoutGen = this.tryRender([user], { addGenerationPrompt: false });
    const genSuffix = withGen !== null && withoutGen !== null && withGen.startsWith(withoutGen)
      ? withGen.slice(withoutGen.length) : withGen ?? '';
    const endsWithThinkOpen = withGen !== null && promptEndsInThought(withGen) && genSuffix.includes(THINK_OPEN);

    const on = this.tryRender([user], { addGenerationPrompt: true, extra: { thinking: true, enable_thinking: true } });
    const off = this.tryRender([user], { addGenerationPrompt: true, extra: { thinking: false, enable_thinking: false } });
    const supportsThinkingToggle = on !== null && off !== null && on !== off;

    // History probe: an old assistant turn carrying both an inline thought and reasoning_content.
    const history: ChatMessage[] = [
      user,
      { role: 'assistant', content: '<think>PROBE_INLINE</think>PROBE_ANSWER', reasoning_content: 'PROBE_FIELD' },
      { role: 'user', content: 'PROBE_USER2' },
    ];
    const h = this.tryRender(history, { addGenerationPrompt: true, extra: { thinking: true, enable_thinking: true } });
    const stripsReasoningFromHistory = h !== null && !h.includes('PROBE_INLINE') && !h.includes('PROBE_FIELD');

    // Current tool-use turn: does the template print reasoning_content itself?
    const current: ChatMessage[] = [
      user,
      { role: 'assistant', content: '', reasoning_content: 'PROBE_CURRENT', tool_calls: [probeCall()] },
      { role: 'tool', content: 'PROBE_RESULT', tool_call_id: 'call_probe' },
    ];
    const c = this.tryRender(current, { addGenerationPrompt: true, extra: { thinking: true, enable_thinking: true } });
    const rendersReasoningContent = c !== null && c.includes('PROBE_CURRENT');

    return { endsWithThinkOpen, supportsThinkingToggle, stripsReasoningFromHistory, toolFormat: this.detectToolFormat(), rendersReasoningContent };
  }

  private detectToolFormat(): ToolFormat {
    const convo = (content: string | null): ChatMessage[] => [
      { role: 'user', content: 'PROBE_USER' },
      { role: 'assistant', content, tool_calls: [probeCall()] },
      { role: 'tool', content: 'PROBE_RESULT', tool_call_id: 'call_probe' },
    ];
    for (const content of [null, '']) {
      const out = this.tryRender(convo(content), { addGenerationPrompt: false });
      if (out === null) continue;
      if (out.includes('｜DSML｜') && out.includes('probe_fn')) return 'dsml';
      if (out.includes('function<｜tool▁sep｜>probe_fn')) return 'v3';
      if (out.includes('probe_fn<｜tool▁sep｜>')) return 'v3.1';
    }
    return 'none';
  }
}

function probeCall(): ChatToolCall {
  return { id: 'call_probe', type: 'function', function: { name: 'probe_fn', arguments: '{"probe_arg": 1}' } };
}

/**
 * Shape a message for templates: null content becomes '' except for assistant tool-call turns, where templates
 * test `content is none`; keys that are absent stay absent (templates test `is defined`). Tool-call arguments
 * are JSON text for templates that concatenate them, and a parsed object for DSML templates (which iterate
 * the parameters); text that is not a JSON object stays text.
 */
function toTemplateMessage(m: ChatMessage, i: number, argsAsObjects: boolean): Record<string, unknown> {
  if (m === null || typeof m !== 'object') throw new TemplateError(`message ${i} is not an object`);
  const out: Record<string, unknown> = { ...m };
  const hasCalls = Array.isArray(m.tool_calls) && m.tool_calls.length > 0;
  if (!hasCalls) delete out.tool_calls;
  else out.tool_calls = m.tool_calls!.map((c) => ({ ...c, function: { ...c.function, arguments: shapeArguments(c.function?.arguments, argsAsObjects) } }));
  if (m.content === null || m.content === undefined) out.content = hasCalls ? null : '';
  else if (typeof m.content !== 'string') throw new TemplateError(`message ${i} (${m.role}): content must be a string or null`);
  if (m.reasoning_content === undefined || m.reasoning_content === null) delete out.reasoning_content;
  return out;
}

function shapeArguments(args: unknown, asObject: boolean): unknown {
  if (typeof args === 'string') {
    if (!asObject) return args;
    try {
      const v: unknown = JSON.parse(args);
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : args;
    } catch {
      return args;
    }
  }
  if (args === undefined || args === null) return asObject ? {} : '{}';
  return asObject ? args : JSON.stringify(args);
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

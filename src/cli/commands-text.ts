/**
 * Text CLI commands: run (one prompt, streamed), chat (interactive), tokenize. Thin adapters over
 * the engine API; all text arrives already UTF-8-safe from the engine's stream decoder.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { readGGUF } from '../formats/gguf.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { loadModel, type Engine } from '../engine/engine.js';
import type { ChatCompletionChunk, ChatMessage, Timings } from '../engine/api-types.js';
import { chatTemplateOpt, intOpt, parseArgs, UsageError, type OptionSpec, type Parsed } from './args.js';
import { formatBytes, THREADS, type Io } from './commands-model.js';

const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

export const GEN_OPTS: OptionSpec[] = [
  { name: 'max-tokens', alias: 'n', type: 'number', description: 'maximum tokens to generate (default: until the context is full)' },
  { name: 'temp', type: 'number', description: 'temperature, 0 = greedy (default 0.6)' },
  { name: 'top-k', type: 'number', description: 'top-k sampling (0 = off)' },
  { name: 'top-p', type: 'number', description: 'top-p (nucleus) sampling (default 0.95)' },
  { name: 'min-p', type: 'number', description: 'min-p sampling (0 = off)' },
  { name: 'seed', type: 'number', description: 'random seed (same seed, same output)' },
  { name: 'ctx', alias: 'c', type: 'number', description: 'context length in tokens (default: model, at most 4096)' },
  { name: 'chat-template', type: 'string', description: 'Jinja chat template file overriding the model\'s' },
  { name: 'system', alias: 's', type: 'string', description: 'system prompt' },
  { name: 'hide-reasoning', type: 'boolean', description: 'do not show the model\'s reasoning' },
  { name: 'reasoning-budget', type: 'number', description: 'close the reasoning after this many tokens' },
  { name: 'no-think', type: 'boolean', description: 'ask the template to disable thinking (where supported)' },
  THREADS,
];

export const RUN_OPTS: OptionSpec[] = [
  { name: 'prompt', alias: 'p', type: 'string', description: 'the prompt' },
  { name: 'raw', type: 'boolean', description: 'plain completion of the prompt, no chat template' },
  ...GEN_OPTS,
];

async function openEngine(values: Parsed['values'], path: string, io: Io): Promise<Engine> {
  const chatTemplate = chatTemplateOpt(values);
  const t0 = performance.now();
  let last = 0;
  const engine = await loadModel(path, {
    threads: intOpt(values, 'threads', 1, 256),
    contextLength: intOpt(values, 'ctx', 2, 1 << 24),
    chatTemplate,
    onProgress: !io.errTTY ? undefined : (a, b) => {
      const pct = Math.floor((a / b) * 100);
      if (pct !== last || a === b) io.err(`\rloading ${path}: ${pct}% (${formatBytes(a)} / ${formatBytes(b)})`);
      last = pct;
    },
  });
  io.err(`${io.errTTY ? '\r' : ''}loaded ${path} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${engine.model.info.architecture}, ${engine.contextLength} tokens of context, ${engine.model.backend.threads} threads${' '.repeat(20)}\n`);
  return engine;
}

function samplingOf(values: Parsed['values']) {
  const opt = (k: string) => (typeof values[k] === 'number' ? (values[k] as number) : undefined);
  return {
    temperature: opt('temp'),
    top_k: opt('top-k'),
    top_p: opt('top-p'),
    min_p: opt('min-p'),
    seed: opt('seed'),
    max_tokens: opt('max-tokens'),
    reasoning_budget: opt('reasoning-budget'),
  };
}

function speedLine(t: Timings | undefined): string {
  if (!t) return '';
  return `prompt: ${t.prompt_n} tokens, ${t.prompt_per_second.toFixed(2)} tokens/s | generation: ${t.predicted_n} tokens, ${t.predicted_per_second.toFixed(2)} tokens/s`;
}

/** Print a streamed chat answer; returns the assembled assistant message and the timings. */
async function printChatStream(stream: AsyncIterable<ChatCompletionChunk>, io: Io, hideReasoning: boolean) {
  let content = '';
  let inReasoning = false;
  let timings: Timings | undefined;
  const tools: string[] = [];
  for await (const c of stream) {
    if (c.timings) timings = c.timings;
    const d = c.choices[0]?.delta;
    if (!d) continue;
    if (d.reasoning_content) {
      if (!hideReasoning) {
        if (!inReasoning && io.isTTY) io.out(DIM);
        io.out(d.reasoning_content);
      }
      inReasoning = true;
    }
    if (d.content) {
      if (inReasoning) {
        if (!hideReasoning) io.out((io.isTTY ? RESET : '') + '\n\n');
        inReasoning = false;
      }
      io.out(d.content);
      content += d.content;
    }
    for (const tc of d.tool_calls ?? []) {
      if (tc.function.name) tools.push(tc.function.name);
    }
  }
  if (inReasoning && !hideReasoning && io.isTTY) io.out(RESET);
  if (tools.length) io.out(`\n[tool calls: ${tools.join(', ')}]`);
  io.out('\n');
  return { content, timings };
}

export async function cmdRun(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parseArgs(argv, RUN_OPTS);
  if (positionals.length !== 1 || typeof values.prompt !== 'string') throw new UsageError('usage: deepcard run <model.gguf> -p "text" [options]');
  const engine = await openEngine(values, positionals[0]!, io);
  try {
    const sampling = samplingOf(values);
    if (values.raw) {
      io.out(values.prompt);
      const stream = await engine.completions.create({ prompt: values.prompt, stream: true, stream_options: { include_usage: true }, ...sampling, max_tokens: sampling.max_tokens ?? engine.contextLength });
      let timings: Timings | undefined;
      for await (const c of stream) {
        if (c.timings) timings = c.timings;
        const t = c.choices[0]?.text;
        if (t) io.out(t);
      }
      io.out('\n');
      io.err(speedLine(timings) + '\n');
      return 0;
    }
    const messages: ChatMessage[] = [];
    if (typeof values.system === 'string') messages.push({ role: 'system', content: values.system });
    messages.push({ role: 'user', content: values.prompt });
    const stream = await engine.chat.completions.create({
      messages, stream: true, stream_options: { include_usage: true }, ...sampling,
      ...(values['no-think'] ? { thinking: false } : {}),
    });
    const { timings } = await printChatStream(stream, io, !!values['hide-reasoning']);
    io.err(speedLine(timings) + '\n');
    return 0;
  } finally {
    await engine.dispose();
  }
}

export const CHAT_OPTS: OptionSpec[] = GEN_OPTS;

/**
 * Interactive chat. Commands: /reset (forget history), /system <text>, /exit. Ctrl+C stops the
 * current answer; Ctrl+C at an empty prompt (or Ctrl+D) leaves.
 */
export async function cmdChat(argv: string[], io: Io, input: NodeJS.ReadableStream = process.stdin): Promise<number> {
  const { positionals, values } = parseArgs(argv, CHAT_OPTS);
  if (positionals.length !== 1) throw new UsageError('usage: deepcard chat <model.gguf> [options]');
  const engine = await openEngine(values, positionals[0]!, io);
  const sampling = samplingOf(values);
  let system = typeof values.system === 'string' ? values.system : null;
  let history: ChatMessage[] = [];
  let current: AbortController | null = null;
  const rl = readline.createInterface({ input, output: process.stdout, terminal: io.isTTY, prompt: '> ' });
  rl.on('SIGINT', () => {
    if (current) {
      current.abort();
      io.out('\n[stopped]\n');
    } else {
      rl.close();
    }
  });
  io.out('deepcard chat: /reset clears the history, /system <text> sets the system prompt, /exit leaves; Ctrl+C stops an answer.\n');
  try {
    rl.prompt();
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/exit' || text === '/quit') break;
      if (text === '/reset') {
        history = [];
        await engine.reset();
        io.out('[history cleared]\n');
        rl.prompt();
        continue;
      }
      if (text.startsWith('/system')) {
        system = text.slice('/system'.length).trim() || null;
        history = [];
        io.out(system ? `[system prompt set; history cleared]\n` : '[system prompt removed; history cleared]\n');
        rl.prompt();
        continue;
      }
      if (!text) {
        rl.prompt();
        continue;
      }
      history.push({ role: 'user', content: line });
      const messages: ChatMessage[] = [...(system ? [{ role: 'system' as const, content: system }] : []), ...history];
      current = new AbortController();
      try {
        const stream = await engine.chat.completions.create({
          messages, stream: true, stream_options: { include_usage: true }, ...sampling, signal: current.signal,
          ...(values['no-think'] ? { thinking: false } : {}),
        });
        const { content, timings } = await printChatStream(stream, io, !!values['hide-reasoning']);
        history.push({ role: 'assistant', content });
        if (timings) io.err(`${DIM}[${speedLine(timings)}]${RESET}\n`);
      } catch (e) {
        history.pop();
        io.err(`error: ${(e as Error).message}\n`);
      } finally {
        current = null;
      }
      rl.prompt();
    }
  } finally {
    rl.close();
    await engine.dispose();
  }
  return 0;
}

export const TOKENIZE_OPTS: OptionSpec[] = [
  { name: 'text', type: 'string', description: 'text to tokenize' },
  { name: 'jsonl', type: 'string', description: 'file with one JSON string per line; prints one array per line' },
  { name: 'no-special', type: 'boolean', description: 'treat special-token text as plain text' },
  { name: 'bos', type: 'boolean', description: 'prepend the BOS token' },
];

export function cmdTokenize(argv: string[], io: Io): number {
  const { positionals, values } = parseArgs(argv, TOKENIZE_OPTS);
  if (positionals.length !== 1 || (typeof values.text === 'string') === (typeof values.jsonl === 'string')) {
    throw new UsageError('usage: deepcard tokenize <model.gguf> (--text T | --jsonl F) [--no-special] [--bos]');
  }
  const tok = Tokenizer.fromGGUF(readGGUF(positionals[0]!).metadata);
  const opts = { parseSpecial: !values['no-special'], addBos: !!values.bos };
  if (typeof values.text === 'string') {
    io.out(JSON.stringify(tok.encode(values.text, opts)) + '\n');
    return 0;
  }
  const lines = fs.readFileSync(values.jsonl as string, 'utf8').split('\n');
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    let s: unknown;
    try {
      s = JSON.parse(l);
    } catch {
      throw new UsageError(`${values.jsonl}:${i + 1}: not a JSON string`);
    }
    if (typeof s !== 'string') throw new UsageError(`${values.jsonl}:${i + 1}: not a JSON string`);
    out.push(JSON.stringify(tok.encode(s, opts)));
  });
  io.out(out.join('\n') + (out.length ? '\n' : ''));
  return 0;
}

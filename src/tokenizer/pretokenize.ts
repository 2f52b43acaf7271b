// Pre-tokenization: split text into pieces that BPE then encodes independently.
//
// Both llama.cpp (`llm_tokenizer_bpe`, unicode_regex_split) and HF tokenizers (Sequence of Split{Isolated})
// apply a list of regexes in sequence: each regex runs over every piece produced by the previous one, and both
// the matches and the gaps between them become pieces ("isolated"). We port the regexes to JS RegExp (u flag),
// fixing the places where JS semantics differ from llama.cpp / Rust regex:
//   - `\s`: JS includes U+FEFF and excludes U+0085; llama.cpp (unicode_set_whitespace) and Rust use the
//     Unicode White_Space set -> we substitute that explicit set.
//   - `(?i:...)`: not supported by Node 20 RegExp -> expanded to [xX] classes (as llama.cpp's adapted regexes).
//   - Rust/Oniguruma accept escapes like `\#`, `\&`, `\~` that the u flag rejects -> unescaped.
//   - `\d` is Unicode Nd in Rust -> \p{Nd}; `\p{Han}` -> \p{Script=Han}; `\U0001xxxx` -> \u{1xxxx}.
// Known, accepted divergence: llama.cpp's hand-written splitters for qwen2/llama3/gpt2 treat unassigned code
// points (no Unicode category) specially; our regexes follow the regex text for them.

/** Unicode White_Space, exactly llama.cpp's unicode_set_whitespace (= Rust regex `\s`). */
const WS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

// Regexes exactly as llama.cpp's llm_tokenizer_bpe lists them (C string contents; reference sec. 9.2).
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const QWEN2 = CONTRACTIONS +
  '|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const LLAMA3 = CONTRACTIONS +
  '|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
// Non-ASCII characters are written as escapes: editors and tools may NFC-normalise literals such as the
// Ohm and Kelvin signs, which would silently change the ranges.
const DEEPSEEK_V3 = [
  '\\p{N}{1,3}',
  '[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
  '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+',
];
const DEEPSEEK_LLM = [
  '[\r\n]',
  '\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+',
  '\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+',
  '\\s+$',
  '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+',
  '\\p{N}+',
];
const DEEPSEEK_CODER = [
  '[\r\n]',
  '\\s?\\p{L}+',
  '\\s?\\p{P}+',
  '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+',
  '\\p{N}',
];
const LLAMA_DEFAULT = ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'];

export interface PreTokenizerSpec {
  /** name reported by Tokenizer.pre */
  name: string;
  /** regex sources (llama.cpp / HF syntax), applied in sequence */
  regexes: string[];
  /** llama3: a pre-token that is itself a vocabulary entry is emitted without running BPE */
  ignoreMerges: boolean;
}

const NAMED: Record<string, { regexes: string[]; ignoreMerges?: boolean }> = {
  'deepseek-v3': { regexes: DEEPSEEK_V3 },
  'deepseek-llm': { regexes: DEEPSEEK_LLM },
  'deepseek-coder': { regexes: DEEPSEEK_CODER },
  'qwen2': { regexes: [QWEN2] },
  'deepseek-r1-qwen': { regexes: [QWEN2] },
  'llama3': { regexes: [LLAMA3], ignoreMerges: true },
  'llama-v3': { regexes: [LLAMA3], ignoreMerges: true },
  'llama-bpe': { regexes: [LLAMA3], ignoreMerges: true },
  'gpt2': { regexes: [GPT2] },
  'gpt-2': { regexes: [GPT2] },
  'default': { regexes: LLAMA_DEFAULT },
};

/** Pre-tokenizer names implemented exactly. */
export const KNOWN_PRE_TOKENIZERS: readonly string[] = Object.keys(NAMED);

/**
 * Pre-tokenizer for a GGUF `tokenizer.ggml.pre` value. A missing or unknown name falls back to the GPT-2 regex
 * (llama.cpp itself refuses unknown names; we prefer to load and report `pre = "gpt2"`).
 */
export function namedPreTokenizer(name: string | undefined): PreTokenizerSpec {
  const key = name && Object.prototype.hasOwnProperty.call(NAMED, name) ? name : 'gpt2';
  const e = NAMED[key]!;
  return { name: key, regexes: e.regexes.slice(), ignoreMerges: e.ignoreMerges ?? false };
}

/** The known name whose regex list equals `regexes` (after the (?i:) rewrite HF files use), if any. */
export function identifyPreTokenizer(regexes: readonly string[]): string | undefined {
  const norm = (r: string) => r.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", CONTRACTIONS);
  const want = regexes.map(norm).join('\u0000');
  for (const name of ['deepseek-v3', 'deepseek-llm', 'deepseek-coder', 'qwen2', 'llama3', 'gpt2', 'default']) {
    if (NAMED[name]!.regexes.map(norm).join('\u0000') === want) return name;
  }
  return undefined;
}

const PASS_ESCAPES = new Set(['r', 'n', 't', 'f', 'v', '0', '\\', '[', ']', '(', ')', '{', '}', '|', '.', '*', '+',
  '?', '^', '$', '/', 'b', 'B', 'w', 'W']);

/** Convert a llama.cpp / HF (Rust, Oniguruma) regex source into an equivalent JS RegExp (flags gu). */
export function toJsRegExp(src: string): RegExp {
  let out = '';
  let inClass = false;
  const cps = Array.from(src);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c === '\\') {
      const n = cps[i + 1];
      if (n === undefined) throw new Error(`regex ${JSON.stringify(src)}: trailing backslash`);
      i++;
      if (n === 's') { out += inClass ? WS : `[${WS}]`; continue; }
      if (n === 'S') {
        if (inClass) throw new Error(`regex ${JSON.stringify(src)}: \\S inside a character class is not supported`);
        out += `[^${WS}]`;
        continue;
      }
      if (n === 'd') { out += '\\p{Nd}'; continue; }
      if (n === 'D') { out += '\\P{Nd}'; continue; }
      if (n === 'p' || n === 'P') {
        const close = cps.indexOf('}', i);
        if (cps[i + 1] !== '{' || close < 0) throw new Error(`regex ${JSON.stringify(src)}: bad \\${n} escape`);
        const prop = cps.slice(i + 2, close).join('');
        const mapped = prop === 'Han' ? 'Script=Han' : prop;
        out += `\\${n}{${mapped}}`;
        i = close;
        continue;
      }
      if (n === 'U') { // \U0001xxxx (8 hex digits)
        const hex = cps.slice(i + 1, i + 9).join('');
        if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw new Error(`regex ${JSON.stringify(src)}: bad \\U escape`);
        out += `\\u{${hex.replace(/^0+(?=.)/, '')}}`;
        i += 8;
        continue;
      }
      if (n === 'x' || n === 'u') { out += '\\' + n; continue; }
      if (n === '-') { out += inClass ? '\\-' : '-'; continue; }
      if (PASS_ESCAPES.has(n)) { out += '\\' + n; continue; }
      if (/[A-Za-z0-9]/.test(n)) throw new Error(`regex ${JSON.stringify(src)}: unsupported escape \\${n}`);
      out += n; // escaped punctuation without special meaning (\# \& \~ \' \" ...): a literal
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (cps[i + 1] === '^') { out += '^'; i++; }
      if (cps[i + 1] === ']') { out += '\\]'; i++; } // a leading ']' is a literal in Rust/Onig
      continue;
    }
    if (c === '(' && cps[i + 1] === '?' && cps[i + 2] === 'i' && cps[i + 3] === ':') {
      // (?i:...) of literals: expand letters to [xX] classes
      let depth = 1;
      let j = i + 4;
      let body = '';
      for (; j < cps.length; j++) {
        const d = cps[j]!;
        if (d === '\\' || d === '[') throw new Error(`regex ${JSON.stringify(src)}: unsupported (?i:) content`);
        if (d === '(') depth++;
        if (d === ')' && --depth === 0) break;
        body += /[a-zA-Z]/.test(d) ? `[${d.toLowerCase()}${d.toUpperCase()}]` : d;
      }
      if (j >= cps.length) throw new Error(`regex ${JSON.stringify(src)}: unterminated (?i:`);
      out += `(?:${body})`;
      i = j;
      continue;
    }
    out += c;
  }
  try {
    return new RegExp(out, 'gu');
  } catch (e) {
    throw new Error(`regex ${JSON.stringify(src)} cannot be used in JS (${(e as Error).message})`);
  }
}

/** Apply one regex to every piece with "Isolated" behaviour: matches and the gaps between them are pieces. */
export function splitIsolated(pieces: readonly string[], re: RegExp): string[] {
  const out: string[] = [];
  for (const piece of pieces) {
    let last = 0;
    re.lastIndex = 0;
    for (;;) {
      const m = re.exec(piece);
      if (m === null) break;
      const s = m.index;
      const len = m[0].length;
      if (len === 0) { // never happens with our regexes; step one code point to guarantee progress
        re.lastIndex = s + ((piece.codePointAt(s) ?? 0) > 0xffff ? 2 : 1);
        if (re.lastIndex > piece.length) break;
        continue;
      }
      if (s > last) out.push(piece.slice(last, s));
      out.push(m[0]);
      last = s + len;
    }
    if (last < piece.length) out.push(piece.slice(last));
  }
  return out;
}

/** Non-ASCII White_Space characters (all single UTF-16 units). */
const NON_ASCII_WS = /[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/g;

/**
 * Compiled pre-tokenizer: text -> pieces.
 *
 * `llamaSemantics`: llama.cpp runs regexes without \p{..} through std::wregex on a copy of the text in which
 * every non-ASCII whitespace character is replaced by \v (unicode_regex_split), so e.g. U+3000 is never
 * matched by a literal range such as deepseek-llm's `[　-。]` or `[ࠀ-一]`; it is whitespace only. We emulate that
 * by matching on the same substituted copy (same length) and cutting the original text. HF files (fromHF)
 * use Rust regex semantics instead, where the literal ranges do match.
 */
export class PreTokenizer {
  readonly name: string;
  readonly ignoreMerges: boolean;
  private readonly res: { re: RegExp; wsQuirk: boolean }[];

  constructor(spec: PreTokenizerSpec, llamaSemantics: boolean) {
    this.name = spec.name;
    this.ignoreMerges = spec.ignoreMerges;
    this.res = spec.regexes.map((src) => ({
      re: toJsRegExp(src),
      wsQuirk: llamaSemantics && !/\\p\{/.test(src) && /[^\x00-\x7f]/.test(src),
    }));
  }

  split(text: string): string[] {
    let pieces = [text];
    for (const { re, wsQuirk } of this.res) {
      if (!wsQuirk) { pieces = splitIsolated(pieces, re); continue; }
      const next: string[] = [];
      for (const p of pieces) {
        const sub = p.replace(NON_ASCII_WS, '\v');
        if (sub === p) { next.push(...splitIsolated([p], re)); continue; }
        let at = 0;
        for (const q of splitIsolated([sub], re)) { next.push(p.slice(at, at + q.length)); at += q.length; }
      }
      pieces = next;
    }
    return pieces;
  }
}

/**
 * Regex list of an HF tokenizer.json `pre_tokenizer` section: Split{Regex, Isolated} steps (alone or in a
 * Sequence) followed by ByteLevel without its own regex. Anything else is rejected with a clear error.
 */
export function hfPreTokenizerRegexes(pre: unknown): { regexes: string[] } {
  const steps: unknown[] = [];
  const rec = pre as { type?: string; pretokenizers?: unknown[] } | null;
  if (rec && rec.type === 'Sequence' && Array.isArray(rec.pretokenizers)) steps.push(...rec.pretokenizers);
  else steps.push(pre);
  const regexes: string[] = [];
  let sawByteLevel = false;
  for (const st of steps) {
    const s = st as { type?: string; pattern?: { Regex?: string; String?: string }; behavior?: string;
      invert?: boolean; use_regex?: boolean; add_prefix_space?: boolean } | null;
    if (!s || typeof s.type !== 'string') throw new Error('tokenizer.json pre_tokenizer: step without a type');
    if (s.type === 'Split') {
      if (sawByteLevel) throw new Error('tokenizer.json pre_tokenizer: Split after ByteLevel is not supported');
      if (s.behavior !== 'Isolated' || s.invert) {
        throw new Error(`tokenizer.json pre_tokenizer: Split behavior ${s.behavior}${s.invert ? ' (inverted)' : ''} is not supported (only Isolated)`);
      }
      if (typeof s.pattern?.Regex === 'string') regexes.push(s.pattern.Regex);
      else if (typeof s.pattern?.String === 'string') regexes.push(s.pattern.String.replace(/[.*+?^${}()|[\]\\\-]/g, '\\$&'));
      else throw new Error('tokenizer.json pre_tokenizer: Split without a pattern');
    } else if (s.type === 'ByteLevel') {
      sawByteLevel = true;
      if (s.add_prefix_space) throw new Error('tokenizer.json pre_tokenizer: ByteLevel add_prefix_space=true is not supported');
      if (s.use_regex !== false) regexes.push(GPT2 + '|\\s+'); // ByteLevel's own regex (HF adds |\s+)
    } else {
      throw new Error(`tokenizer.json pre_tokenizer: step type "${s.type}" is not supported (deepcard implements Split + ByteLevel)`);
    }
  }
  if (!sawByteLevel) throw new Error('tokenizer.json pre_tokenizer: no ByteLevel step (not a byte-level BPE tokenizer)');
  return { regexes };
}

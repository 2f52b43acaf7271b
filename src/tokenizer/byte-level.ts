// GPT-2 "byte-level" alphabet (reference sec. 9.3): every byte 0..255 is shown as one printable code point so
// that BPE vocabularies can be stored as strings. Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to themselves;
// the remaining 68 bytes map to U+0100 + k in increasing byte order (space 0x20 -> 'Ġ' U+0120, '\n' -> 'Ċ').

/** byte (0..255) -> its byte-level character. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const keep = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(keep ? b : 0x100 + n++);
  }
  return out;
})();

/** code point of a byte-level character -> byte, or -1 for code points outside the alphabet. */
const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(0x144).fill(-1); // highest mapped code point is U+0143
  for (let b = 0; b < 256; b++) t[BYTE_TO_CHAR[b]!.charCodeAt(0)] = b;
  return t;
})();

const utf8Encoder = new TextEncoder();

/** UTF-8 bytes of `text`, each shown as its byte-level character (what BPE vocabularies store). */
export function toByteLevel(text: string): string {
  const bytes = utf8Encoder.encode(text);
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]!];
  return s;
}

/**
 * Byte-level string -> raw bytes. Characters outside the alphabet (can only come from a malformed vocabulary)
 * are kept as their own UTF-8 bytes, so decoding never throws; llama.cpp wraps them in "[UNK_BYTE_..]" text.
 */
export function fromByteLevel(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const b = cp < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[cp]! : -1;
    if (b >= 0) out.push(b);
    else for (const x of utf8Encoder.encode(ch)) out.push(x);
  }
  return Uint8Array.from(out);
}

/** UTF-8 bytes of a string (special tokens are stored as plain text, not byte-level). */
export function utf8Bytes(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

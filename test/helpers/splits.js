// Every way the parser tests cut a sample into streamed pieces: whole, every 2-piece split, one
// UTF-16 unit at a time, and 40 random many-piece splits (pieces of 1..maxPiece units).
import { mulberry32 } from '../../dist/ops/quantize.js';

export function splits(text, { seed = 1, maxPiece = 6 } = {}) {
  const out = [[text]];
  for (let i = 0; i <= text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  out.push(text.split(''));
  const rnd = mulberry32(text.length * 7919 + seed);
  for (let k = 0; k < 40; k++) {
    const pieces = [];
    let i = 0;
    while (i < text.length) {
      const n = 1 + Math.floor(rnd() * maxPiece);
      pieces.push(text.slice(i, i + n));
      i += n;
    }
    out.push(pieces);
  }
  return out;
}
